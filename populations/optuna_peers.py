"""Optuna's samplers behind evonas's ask/tell, so benchmarks run them beside evonas's strategies.

A peer searches the same space through its integer encoding (one categorical parameter per
position of :meth:`~evonas.core.problem.SearchSpace.cardinalities`), sees the same trials a
strategy sees (search metrics, never held-out scores) and gets the same seeds. Its budget is
counted in *distinct* genomes: when Optuna proposes a genome it has already been told, the peer
tells Optuna the known values at once and asks again, so a repeat costs the peer nothing. That
favours the peer over a strategy, which pays for every evaluation it asks for.

Optuna is an optional extra (``pip install -e '.[peers]'``), imported only when a peer is set up.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from evonas.core.errors import UserError
from evonas.core.objectives import Constraint
from evonas.core.problem import Proposal, SearchSpace, Trial
from populations.base import Strategy

MAX_REPEATS = 100
"""Repeats told back to Optuna for one ask before its proposal is evaluated again anyway (a sampler
that has converged, as TPE does on a 15,625-cell table, could otherwise loop for minutes)."""


def import_optuna() -> Any:
    """Optuna, or a :class:`UserError` saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise UserError("Optuna peers need Optuna: pip install -e '.[peers]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


class OptunaPeer(Strategy):
    """An Optuna sampler as a strategy; subclasses choose the sampler in :meth:`sampler`."""

    name = "optuna"
    constraints_: tuple[Constraint, ...] = ()

    @property
    def constrained(self) -> bool:
        """Whether the search has constraints; Optuna then gets each trial's violation as a
        constraint value (feasible at 0), which its TPE and NSGA-II samplers use."""
        return bool(self.constraints_)

    def setup(self, space: SearchSpace, n_objectives: int, rng: np.random.Generator) -> None:
        super().setup(space, n_objectives, rng)
        optuna = import_optuna()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = self.sampler(optuna, int(rng.integers(2 ** 31)))
        self.study_ = optuna.create_study(directions=["minimize"] * n_objectives, sampler=sampler)
        self.cards_ = tuple(int(c) for c in space.cardinalities())
        self.known_: dict[Any, Trial] = {}
        self.pending_: dict[Any, list] = {}

    def sampler(self, optuna: Any, seed: int) -> Any:
        """The Optuna sampler this peer runs, seeded with ``seed``."""
        raise NotImplementedError

    def ask(self) -> Proposal:
        for _ in range(MAX_REPEATS):
            optuna_trial = self.study_.ask()
            genome = self.space_.decode([optuna_trial.suggest_categorical(f"x{i}", list(range(c)))
                                         for i, c in enumerate(self.cards_)])
            if genome not in self.known_:
                break
            self._tell_optuna(optuna_trial, self.known_[genome])
        self.pending_.setdefault(genome, []).append(optuna_trial)
        return Proposal(genome, None, self.name)

    def tell(self, trial: Trial) -> None:
        self.known_[trial.genome] = trial
        waiting = self.pending_.get(trial.genome)
        if waiting:
            self._tell_optuna(waiting.pop(0), trial)

    def _tell_optuna(self, optuna_trial: Any, trial: Trial) -> None:
        from optuna.trial import TrialState

        if self.constrained:
            optuna_trial.set_constraint("violation", float(trial.violation))
        if trial.ok:
            self.study_.tell(optuna_trial, [float(v) for v in trial.values])
        else:
            self.study_.tell(optuna_trial, state=TrialState.FAIL)


class OptunaTPE(OptunaPeer):
    """Optuna's multivariate TPE (what its auto-sampler picks below 250 trials with categorical
    parameters; MOTPE with several objectives)."""

    name = "optuna-tpe"

    def sampler(self, optuna, seed):
        return optuna.samplers.TPESampler(multivariate=True, seed=seed)


class OptunaNSGA2(OptunaPeer):
    """Optuna's NSGA-II sampler with its default population (50)."""

    name = "optuna-nsga2"

    def sampler(self, optuna, seed):
        return optuna.samplers.NSGAIISampler(seed=seed)


class OptunaRandom(OptunaPeer):
    """Optuna's random sampler."""

    name = "optuna-random"

    def sampler(self, optuna, seed):
        return optuna.samplers.RandomSampler(seed=seed)
