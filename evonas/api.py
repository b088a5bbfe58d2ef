"""From a :class:`SearchConfig` to a running search: the one place CLI names become objects."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from evonas.config import SearchConfig
from evonas.driver import AnyOf, Callback, MaxEvaluations, MaxSeconds, Search
from evonas.errors import UserError
from evonas.objectives import Constraint, Direction, Objective, to_min_vector
from evonas.problem import Problem, Trial
from evonas.store import CandidateRow, RunStore, check_new_run_dir
from populations.archive import ParetoArchive
from populations.base import Strategy

# Heavy modules (torch, onnxruntime, scikit-learn) are imported inside the factories below,
# so a table-backed benchmark search starts in a fraction of a second.


def _random(cfg: SearchConfig) -> Strategy:
    from populations.random_search import RandomSearch
    return RandomSearch()


def _aging(cfg: SearchConfig) -> Strategy:
    from populations.aging import AgingEvolution
    return AgingEvolution(cfg.population, cfg.sample_size)


def _de(cfg: SearchConfig) -> Strategy:
    from populations.de import DifferentialEvolution
    return DifferentialEvolution(cfg.population)


def _nsga2(cfg: SearchConfig) -> Strategy:
    from populations.nsga2 import PymooNSGA2
    return PymooNSGA2(cfg.population)


def _pls(cfg: SearchConfig) -> Strategy:
    from populations.pareto_local import ParetoLocalSearch
    return ParetoLocalSearch()


def _spls(cfg: SearchConfig) -> Strategy:
    from populations.surrogate_pls import SurrogateParetoLocalSearch
    return SurrogateParetoLocalSearch()


def _bounded(cfg: SearchConfig) -> Strategy:
    from populations.bounded import BoundedEvolution
    return BoundedEvolution()


def _lemonade(cfg: SearchConfig) -> Strategy:
    from populations.lemonade import Lemonade
    return Lemonade(cfg.n_pc, cfg.n_ac, cfg.n_init, cfg.cheap_objectives())


STRATEGIES: dict[str, Callable[[SearchConfig], Strategy]] = {
    "random": _random,
    "aging": _aging,
    "de": _de,
    "nsga2": _nsga2,
    "pls": _pls,
    "spls": _spls,
    "bounded": _bounded,
    "lemonade": _lemonade,
}

PROBLEMS: dict[str, Callable[[SearchConfig], Problem]] = {}


def make_strategy(cfg: SearchConfig) -> Strategy:
    """The strategy named by ``cfg.strategy``."""
    if cfg.strategy not in STRATEGIES:
        raise UserError(f"unknown strategy {cfg.strategy!r}; choose one of: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[cfg.strategy](cfg)


def mobilenet_problem(cfg: SearchConfig) -> Problem:
    """Real training on ``cfg.data`` (or the embedded dataset) with cost on ``cfg.target``."""
    from evonas.classification import ImageClassification, Splits, cost_objective
    from evonas.data import load_dataset
    from evonas.space import MobileNetSpace, SpaceConfig
    from evonas.training import TrainConfig, check_device
    from hardware.lut import PredictedLatency

    target = latency_target(cfg)
    check_device(cfg.device)
    cost = cost_objective(cfg.cost)
    data = load_dataset(cfg.data)
    splits = Splits.from_dataset(data, cfg.val_fraction, cfg.seed)
    space = MobileNetSpace(SpaceConfig.for_resolution(min(data.input_shape[1:])))
    train_cfg = TrainConfig(cfg.epochs, cfg.batch_size, cfg.lr, device=cfg.device)
    if isinstance(target, PredictedLatency):
        target.table.check_network(splits.input_shape, splits.num_classes, space.config)
    return ImageClassification(splits, space, target, train_cfg, cfg.seed, cost, cfg.inherit_epochs)


def latency_target(cfg: SearchConfig):
    """``cfg.target`` itself, or with ``--latency predicted`` its lookup table ``cfg.lut``."""
    from hardware.lut import load_predictor
    from hardware.targets import get_target

    if cfg.latency != "predicted":
        return get_target(cfg.target)
    predictor = load_predictor(cfg.lut, cfg.force_lut)
    if predictor.table.target != cfg.target:
        raise UserError(f"latency table '{cfg.lut}' was built for target {predictor.table.target!r}, the search "
                        f"asks for {cfg.target!r}; pass --target {predictor.table.target} or build a table for it")
    return predictor


PROBLEMS["mobilenet"] = mobilenet_problem


def nb201_problem(cfg: SearchConfig) -> Problem:
    """NAS-Bench-201: ``cfg.accuracy_column`` against ``cfg.cost_column`` of ``cfg.table``."""
    from evonas.benchmarks.nb201 import NB201Problem

    if cfg.table is None:
        raise UserError("--space nb201 needs --table PATH (e.g. ../shared/data/nb201/nb201_table.csv)")
    return NB201Problem.from_tables(cfg.table, cfg.accuracy_column, cfg.cost_column, cfg.cost_table)


def ofa_problem(cfg: SearchConfig) -> Problem:
    """OFA MobileNetV3: predicted accuracy against Note10 latency from ``cfg.data_dir``."""
    from evonas.benchmarks.ofa import OFAProblem

    if cfg.data_dir is None:
        raise UserError("--space ofa needs --data-dir PATH (e.g. ../shared/data/ofa_mbv3)")
    return OFAProblem(cfg.data_dir)


PROBLEMS["nb201"] = nb201_problem
PROBLEMS["ofa"] = ofa_problem


def search_constraints(cfg: SearchConfig, problem: Problem) -> tuple[Constraint, ...]:
    """``--constraint`` bounds plus ``--max-latency`` on the problem's (first minimised) cost objective."""
    cost = next((o.name for o in problem.objectives if o.direction is Direction.MINIMIZE), None)
    if cost is None and cfg.max_latency is not None:
        raise UserError("--max-latency needs a problem with a cost objective")
    constraints = cfg.parsed_constraints() + cfg.latency_constraint(cost)
    problem.check_constraints(constraints)
    return constraints


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
    search_constraints(cfg, problem)
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
    return Search(problem, strategy, termination, cfg.seed, store, search_constraints(cfg, problem),
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

