"""Bounded elite evolution: best feasible accuracy under a constraint such as ``latency <= 25 ms``.

With a bound on a cost, only the best feasible network matters and it lies just under the
bound, so a Pareto front spread over the whole cost range wastes evaluations. This strategy
keeps an elite of the best feasible trials on the unconstrained objective and proposes their
children, and it screens candidates with the problem's training-free metrics
(:meth:`~evonas.core.problem.Problem.cheap_metrics`, e.g. a latency lookup table) so that no
evaluation is spent on a network known to break the bound -- as OFA's own evolutionary
search does with its latency table, but with bounded redraws instead of an unbounded loop.

Two further ideas make it sample-efficient:

- A surrogate (:class:`~populations.surrogate.OneHotRidge`, fitted on the trials told so
  far) picks the most promising of several screened children per proposal.
- When one position of the encoding dominates the constrained cost (OFA's input
  resolution: it scales every layer's latency), networks with different values there
  spend the budget so differently that they form separate basins: moving between them
  needs a rebuild of the whole network, so an elite that converged on one value never
  leaves it, and random feasible samples favour the cheap values over the best one. The
  strategy therefore races one niche per value of that position, successive-halving
  style: every niche gets ``quota`` proposals, the better half (``keep``) go on with twice
  the quota (``growth``), and so on until one niche is left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Callable

import numpy as np

from evonas.core.problem import Proposal, Trial
from evonas.core.options import Range
from populations.base import Strategy
from populations.surrogate import OneHotRidge


@dataclass
class Niche:
    """The trials sharing one value of the raced position (``value`` None: no race).

    Attributes:
        value: the value of the raced position every genome of the niche has.
        elite: its best trials, best first.
        spent: proposals made for it.
    """

    value: int | None
    elite: list[Trial] = field(default_factory=list)
    spent: int = 0


class BoundedEvolution(Strategy):
    """Surrogate-screened elite evolution, raced over the values of the cost-dominant position.

    Within a niche, the first proposals are random (``n_init`` without a race, ``niche_init``
    per niche in one). Afterwards a parent is drawn uniformly from the niche's
    ``elite_size`` best trials on the target objective (the first objective no constraint
    names, e.g. accuracy under a latency bound; feasible trials first, then the least
    violating). With probability ``crossover`` the child starts as a uniform crossover of
    the parent and a second elite member; it then takes 1 to ``max_steps`` random
    mutations. Each proposal draws up to ``tries`` candidates and keeps those that are
    unseen and, by the metrics the problem knows without evaluating, feasible, up to
    ``pool`` of them; the surrogate's best of these is proposed. Failing any feasible draw,
    the least-violating unseen draw (or the last draw) is proposed.

    The target is a single objective for any number of objectives: the others are not
    optimised, only kept within their constraints, since the strategy seeks the best network
    under bounds, not a front. With two objectives and a bound on the cost nothing else is
    left; with more, bound the other costs too to steer them.

    The race runs when the constraints' cheap metrics vary at least ``dominance`` times
    more over the values of one encoding position than over those of any other (measured
    on a few random genomes at setup) and that position has at most ``max_niches`` values;
    without constraints or cheap metrics there is one niche and no race. A niche whose
    random draws are all infeasible is repaired by cost-reducing mutations, and dropped
    without spending an evaluation when that fails too.

    Args:
        n_init: random proposals before the elite is used (no race).
        elite_size: how many of the best feasible trials of a niche are parents.
        max_steps: the most mutations applied to one child.
        crossover: probability of starting a child from a uniform crossover of two parents.
        tries: candidates drawn per proposal (bounds every loop).
        pool: feasible unseen candidates the surrogate chooses among (1: no surrogate).
        alpha: the surrogate's ridge penalty.
        refit: trials told between two refits of the surrogate.
        quota: proposals per niche in the race's first round (0: no race).
        niche_init: random proposals of a raced niche before its elite is used.
        dominance: how many times the cost spread of the raced position must exceed any other's.
        max_niches: the most values a raced position may have.
        keep: fraction of the live niches a race round keeps (0.5: successive halving).
        growth: factor by which each race round multiplies the per-niche quota.
        rank_top: best feasible trials of a niche whose mean target value ranks it in the race.
    """

    name = "bounded"

    def __init__(
        self,
        n_init: Annotated[int, Range(1)] = 20,
        elite_size: Annotated[int, Range(1, 10_000)] = 10,
        max_steps: Annotated[int, Range(1, 1_000)] = 2,
        crossover: Annotated[float, Range(0, 1)] = 0.8,
        tries: Annotated[int, Range(1, 10_000)] = 16,
        pool: Annotated[int, Range(1, 10_000)] = 4,
        alpha: Annotated[float, Range(1e-6, 1e6)] = 1.0,
        refit: Annotated[int, Range(1, 1_000_000)] = 5,
        quota: Annotated[int, Range(1, 10_000)] = 10,
        niche_init: Annotated[int, Range(1, 10_000)] = 4,
        dominance: Annotated[float, Range(0)] = 2.0,
        max_niches: Annotated[int, Range(1, 10_000)] = 32,
        keep: Annotated[float, Range(0, 1)] = 0.5,
        growth: Annotated[int, Range(1, 1_000)] = 2,
        rank_top: Annotated[int, Range(1, 10_000)] = 1,
    ):
        self.n_init = n_init
        self.elite_size = elite_size
        self.max_steps = max_steps
        self.crossover = crossover
        self.tries = tries
        self.pool = pool
        self.alpha = alpha
        self.refit = refit
        self.quota = quota
        self.niche_init = niche_init
        self.dominance = dominance
        self.max_niches = max_niches
        self.keep = keep
        self.growth = growth
        self.rank_top = rank_top

    def setup(self, space, n_objectives, rng) -> None:
        super().setup(space, n_objectives, rng)
        names = [o.name for o in self.problem_.objectives] if self.problem_ is not None else []
        bounded = {c.name for c in self.constraints_}
        self.target_ = next((i for i, name in enumerate(names) if name not in bounded), 0)
        self.seen_: set = set()
        self.asked_ = 0
        self.home_: dict = {}
        self.codes_: dict[int, np.ndarray] = {}  # encodings of elite trials, by trial id
        self.surrogate_ = OneHotRidge(space.cardinalities(), self.alpha) if self.pool > 1 else None
        self.raced_ = self._dominant_position() if self.quota > 0 else None
        values = [None] if self.raced_ is None else range(space.cardinalities()[self.raced_])
        self.niches_ = [Niche(v) for v in values]
        self.alive_ = list(self.niches_)
        self.round_quota_ = self.quota

    @property
    def elite_(self) -> list[Trial]:
        """The elite of the niche holding the best trial (the only niche without a race)."""
        return min(self.alive_, key=lambda n: self._niche_key(n)).elite

    # -- proposing ---------------------------------------------------------------------
    def ask(self) -> Proposal:
        self.asked_ += 1
        self._cull()
        for _ in range(len(self.alive_)):
            niche = min(self.alive_, key=lambda n: (n.spent, self._niche_key(n)))
            proposal = self._propose(niche, must_be_feasible=len(self.alive_) > 1 and not niche.elite)
            if proposal is not None:
                niche.spent += 1
                return proposal
            self.alive_.remove(niche)  # not one feasible network found for its value
        return self._propose(self.alive_[0], must_be_feasible=False)

    def _propose(self, niche: Niche, must_be_feasible: bool) -> Proposal | None:
        """A screened proposal for ``niche``; None if ``must_be_feasible`` and none was found."""
        n_random = self.n_init if niche.value is None else self.niche_init
        if niche.spent < n_random or not niche.elite:
            draw = lambda: (self._pin(self.space_.sample(self.rng_), niche.value), None)
            found = self._screened(draw, pool=1, repair=niche.value is not None)
            operator = "random"
        else:
            found = self._screened(lambda: self._child(niche), self.pool)
            operator = "mutate"
        if found is None or (must_be_feasible and not found[2]):
            return None
        genome, origin, _ = found
        self.seen_.add(genome)
        self.home_[genome] = niche
        if origin is None:
            return Proposal(genome, None, operator)
        parent, cross = origin
        return Proposal(genome, parent.id, "crossover_mutate" if cross else operator)

    def _child(self, niche: Niche):
        elite = niche.elite
        parent = elite[int(self.rng_.integers(len(elite)))]
        mate = elite[int(self.rng_.integers(len(elite)))]
        cross = parent is not mate and self.rng_.random() < self.crossover
        genome = parent.genome
        if cross:
            a, b = self.codes_[parent.id], self.codes_[mate.id]
            genome = self.space_.decode(np.where(self.rng_.random(len(a)) < 0.5, a, b))
        for _ in range(1 + int(self.rng_.integers(self.max_steps))):
            genome, _ = self.space_.mutate(genome, self.rng_)
        return self._pin(genome, niche.value), (parent, cross)

    def _pin(self, genome, value: int | None):
        """``genome`` with the raced position set to ``value`` (unchanged without a race)."""
        if value is None:
            return genome
        code = self.space_.encode(genome)
        if code[self.raced_] == value:
            return genome
        code[self.raced_] = value
        return self.space_.decode(code)

    def _screened(self, draw: Callable, pool: int, repair: bool = False):
        """``(genome, origin, feasible)``: the surrogate's best of up to ``pool`` unseen known-feasible
        draws, else the least-violating unseen draw (repaired if ``repair``), else the last draw."""
        feasible: dict = {}
        best, best_violation = None, np.inf
        genome = origin = None
        for _ in range(self.tries):
            genome, origin = draw()
            if genome in self.seen_ or genome in feasible:
                continue
            violation = self._known_violation(genome)
            if violation == 0.0:
                feasible[genome] = origin
                if len(feasible) >= pool:
                    break
            elif violation < best_violation:
                best, best_violation = (genome, origin), violation
        if feasible:
            genomes = list(feasible)
            pick = genomes[self._best_predicted(genomes)]
            return pick, feasible[pick], True
        if best is not None and repair:
            fixed = self._repair(best[0], best_violation)
            if fixed is not None:
                return fixed, best[1], True
        if best is not None:
            return best[0], best[1], False
        return (genome, origin, False) if genome is not None else None

    def _repair(self, genome, violation: float):
        """An unseen feasible genome reached by cost-reducing mutations of ``genome``, or None.

        Each of up to ``tries`` rounds draws a few mutations (keeping the raced value) and
        moves to the least-violating one if it violates less.
        """
        value = None if self.raced_ is None else int(self.space_.encode(genome)[self.raced_])
        for _ in range(self.tries):
            options = [self._pin(self.space_.mutate(genome, self.rng_)[0], value) for _ in range(4)]
            violations = [self._known_violation(g) for g in options]
            i = int(np.argmin(violations))
            if violations[i] < violation:
                genome, violation = options[i], violations[i]
            if violation == 0.0 and genome not in self.seen_:
                return genome
        return None

    def _best_predicted(self, genomes: list) -> int:
        """Index of the candidate the surrogate rates best (the first one before it is fitted)."""
        model = self.surrogate_
        if len(genomes) == 1 or model is None or model.n_samples < self.n_init:
            return 0
        if model.coef_ is None or model.stale >= self.refit:
            model.fit()
        codes = np.stack([self.space_.encode(g) for g in genomes])
        return int(np.argmin(model.predict(codes)))

    def _known_violation(self, genome) -> float:
        """Total violation of the constraints whose metric the problem knows without evaluating."""
        if not self.constraints_ or self.problem_ is None:
            return 0.0
        metrics = self.problem_.cheap_metrics(genome, [c.name for c in self.constraints_])
        return sum(c.violation(metrics) for c in self.constraints_ if c.name in metrics)

    # -- the race ----------------------------------------------------------------------
    def _dominant_position(self, samples: int = 4) -> int | None:
        """The encoding position whose values move the constrained cheap metrics most, if it dominates.

        For each of ``samples`` random genomes and each position, the spread (max - min) of
        every constrained metric over the position's values, relative to the bound; None
        when no metric is known cheaply or no position's mean spread is ``dominance``
        times every other's.
        """
        constraints, problem = self.constraints_, self.problem_
        if not constraints or problem is None:
            return None
        names = [c.name for c in constraints]
        scales = {c.name: max(abs(c.upper if c.upper is not None else c.lower), 1e-12) for c in constraints}
        cards = self.space_.cardinalities()
        spread = np.zeros(len(cards))
        for _ in range(samples):
            code = self.space_.encode(self.space_.sample(self.rng_))
            for position, n_values in enumerate(cards):
                metrics = []
                for value in range(n_values):
                    variant = code.copy()
                    variant[position] = value
                    metrics.append(problem.cheap_metrics(self.space_.decode(variant), names))
                for name in names:
                    known = [m[name] for m in metrics if name in m]
                    if known:
                        spread[position] += (max(known) - min(known)) / scales[name]
        order = np.argsort(-spread)
        if len(cards) < 2 or spread[order[0]] <= 0 or spread[order[0]] < self.dominance * spread[order[1]]:
            return None
        return int(order[0]) if 2 <= cards[order[0]] <= self.max_niches else None

    def _niche_key(self, niche: Niche) -> tuple[float, float]:
        best = niche.elite[0] if niche.elite else None
        return (best.violation, float(best.values[self.target_])) if best is not None else (np.inf, np.inf)

    def _cull(self) -> None:
        """Successive halving: once every live niche has had the round's quota, keep the better ``keep`` of them."""
        if len(self.alive_) < 2 or any(n.spent < self.round_quota_ for n in self.alive_):
            return
        keep = math.ceil(len(self.alive_) * self.keep)
        self.alive_ = sorted(self.alive_, key=self._race_score)[:keep]
        self.round_quota_ *= self.growth

    def _race_score(self, niche: Niche) -> float:
        """Mean target value of the niche's ``rank_top`` best trials that are feasible (inf: none)."""
        feasible = [t.values[self.target_] for t in niche.elite[:self.rank_top] if t.violation == 0]
        return float(np.mean(feasible)) if feasible else np.inf

    # -- learning ----------------------------------------------------------------------
    def tell(self, trial: Trial) -> None:
        self.seen_.add(trial.genome)
        niche = self.home_.pop(trial.genome, None)
        if not trial.ok:
            return
        code = self.space_.encode(trial.genome)
        if self.surrogate_ is not None and np.isfinite(trial.values[self.target_]):
            self.surrogate_.add(code, float(trial.values[self.target_]))
        if niche is None:  # not proposed here (user-given initial genomes, a resumed run)
            value = None if self.raced_ is None else int(code[self.raced_])
            niche = next((n for n in self.niches_ if n.value == value), None)
        if niche is None:
            return
        niche.elite.append(trial)
        niche.elite.sort(key=lambda t: (t.violation, t.values[self.target_]))
        for dropped in niche.elite[self.elite_size:]:
            self.codes_.pop(dropped.id, None)
        del niche.elite[self.elite_size:]
        if any(t is trial for t in niche.elite):
            self.codes_[trial.id] = code
