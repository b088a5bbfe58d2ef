"""From a :class:`SearchConfig` to a running search: the one place CLI names become objects."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from evonas.classification import ImageClassification, Splits, cost_objective
from evonas.config import SearchConfig
from evonas.data import load_dataset
from evonas.driver import AnyOf, Callback, MaxEvaluations, MaxSeconds, Search
from evonas.errors import UserError
from evonas.objectives import Direction, Objective, to_min_vector
from evonas.problem import Problem, Trial
from evonas.space import MobileNetSpace, SpaceConfig
from evonas.store import CandidateRow, RunStore, check_new_run_dir
from evonas.training import TrainConfig, check_device
from hardware.targets import get_target
from populations.aging import AgingEvolution
from populations.archive import ParetoArchive
from populations.base import Strategy
from populations.random_search import RandomSearch

STRATEGIES: dict[str, Callable[[SearchConfig], Strategy]] = {
    "random": lambda cfg: RandomSearch(),
    "aging": lambda cfg: AgingEvolution(cfg.population, cfg.sample_size),
}

PROBLEMS: dict[str, Callable[[SearchConfig], Problem]] = {}


def make_strategy(cfg: SearchConfig) -> Strategy:
    """The strategy named by ``cfg.strategy``."""
    if cfg.strategy not in STRATEGIES:
        raise UserError(f"unknown strategy {cfg.strategy!r}; choose one of: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[cfg.strategy](cfg)


def mobilenet_problem(cfg: SearchConfig) -> ImageClassification:
    """Real training on ``cfg.data`` (or the embedded dataset) with cost on ``cfg.target``."""
    target = get_target(cfg.target)
    check_device(cfg.device)
    cost = cost_objective(cfg.cost)
    data = load_dataset(cfg.data)
    splits = Splits.from_dataset(data, cfg.val_fraction, cfg.seed)
    space = MobileNetSpace(SpaceConfig.for_resolution(min(data.input_shape[1:])))
    train_cfg = TrainConfig(cfg.epochs, cfg.batch_size, cfg.lr, device=cfg.device)
    return ImageClassification(splits, space, target, train_cfg, cfg.seed, cost)


PROBLEMS["mobilenet"] = mobilenet_problem


def make_problem(cfg: SearchConfig) -> Problem:
    """The problem named by ``cfg.space``."""
    if cfg.space not in PROBLEMS:
        raise UserError(f"unknown search space {cfg.space!r}; choose one of: {', '.join(sorted(PROBLEMS))}")
    return PROBLEMS[cfg.space](cfg)


def run_config(cfg: SearchConfig, problem: Problem) -> dict:
    """What is stored in the run database to reopen, resume and export the run."""
    space_cfg = getattr(problem.space, "config", None)
    return {
        "search": cfg.to_dict(),
        "problem": problem.describe(),
        "objectives": [{"name": o.name, "direction": o.direction.name, "unit": o.unit} for o in problem.objectives],
        "space_config": None if space_cfg is None else dataclasses.asdict(space_cfg),
    }


def new_search(cfg: SearchConfig, out: str | Path, callbacks: Iterable[Callback] = ()) -> Search:
    """Validate everything, then create the run directory and a ready-to-run :class:`Search`.

    Nothing is written before every input has been checked.
    """
    check_new_run_dir(Path(out))
    strategy = make_strategy(cfg)
    problem = make_problem(cfg)
    initial = tuple(problem.space.parse(text) for text in cfg.init)
    store = RunStore.create(out, run_config(cfg, problem))
    return _search(cfg, problem, strategy, store, callbacks, initial)


def resume_search(run_dir: str | Path, callbacks: Iterable[Callback] = (),
                  evaluations: int | None = None) -> Search:
    """Reopen a run (after a crash or to extend it) with its stored config."""
    store = RunStore.open(run_dir)
    cfg = SearchConfig.from_dict(store.config["search"])
    if evaluations is not None:
        cfg = SearchConfig.from_dict({**cfg.to_dict(), "evaluations": evaluations})
    problem = make_problem(cfg)
    initial = tuple(problem.space.parse(text) for text in cfg.init)
    search = _search(cfg, problem, make_strategy(cfg), store, callbacks, initial)
    search.resume()
    return search


def _search(cfg, problem, strategy, store, callbacks, initial=()) -> Search:
    termination = MaxEvaluations(cfg.evaluations)
    if cfg.time_limit:
        termination = AnyOf((termination, MaxSeconds(cfg.time_limit)))
    return Search(problem, strategy, termination, cfg.seed, store, cfg.parsed_constraints(),
                  tuple(callbacks), initial=initial)


def stored_objectives(store: RunStore) -> tuple[Objective, ...]:
    """The objectives a stored run optimised."""
    return tuple(Objective(o["name"], Direction[o["direction"]], o.get("unit", ""))
                 for o in store.config["objectives"])


def stored_front(store: RunStore) -> list[CandidateRow]:
    """The stored run's feasible non-dominated candidates, sorted by the first objective."""
    objectives = stored_objectives(store)
    rows = {r.id: r for r in store.candidates()}
    archive = ParetoArchive()
    for r in rows.values():
        if r.status == "ok":
            archive.add(Trial(r.id, r.genome, r.parent_id, r.operator, r.status, r.metrics,
                              to_min_vector(objectives, r.metrics), r.violation, r.fidelity))
    order = sorted(archive.trials, key=lambda t: tuple(np.round(t.values, 12)))
    return [rows[t.id] for t in order]

