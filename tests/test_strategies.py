"""Conformance of every registered strategy on both benchmark problems: runs, reproducibility."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from evonas.api import STRATEGIES, make_problem, make_strategy, search_constraints
from evonas.config import SearchConfig
from evonas.engine.driver import MaxEvaluations, Search
from conftest import shared_data

BUDGET = {"nb201": 60, "ofa": 50}
REPEATS_ALLOWED = {"nsga2"}  # pymoo's NSGA-II removes duplicates within a generation only


def _config(space: str, **kw) -> SearchConfig:
    if space == "nb201":
        opts = dict(table=str(shared_data("nb201") / "nb201_table.csv"))
    else:
        opts = dict(data_dir=str(shared_data("ofa_mbv3")), max_latency=25.0)
    return SearchConfig(space=space, population=8, sample_size=3, n_pc=6, n_ac=2, n_init=4, **opts, **kw)


_problems: dict = {}


def _run(space: str, strategy: str, seed: int):
    cfg = _config(space, strategy=strategy, seed=seed)
    problem = _problems.get(space) or _problems.setdefault(space, make_problem(cfg))
    search = Search(problem, make_strategy(cfg), MaxEvaluations(BUDGET[space]), seed,
                    constraints=search_constraints(cfg, problem))
    search.run()
    return search


@pytest.mark.parametrize("space", ["nb201", "ofa"])
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_strategy_runs_and_is_reproducible(space, strategy):
    first, again, other = _run(space, strategy, 0), _run(space, strategy, 0), _run(space, strategy, 1)
    trajectory = [str(t.genome) for t in first.trials]
    assert len(trajectory) == BUDGET[space] and all(t.ok for t in first.trials)
    assert trajectory == [str(t.genome) for t in again.trials]
    assert trajectory != [str(t.genome) for t in other.trials]
    assert first.front() and first.hypervolume() > 0
    if strategy not in REPEATS_ALLOWED:
        assert len(set(trajectory)) >= 0.9 * len(trajectory)  # evaluations are not wasted on repeats


@pytest.mark.parametrize("strategy", ["aging", "de", "nsga2"])
def test_evolution_beats_its_random_start_on_nb201(strategy):
    cfg = dataclasses.replace(_config("nb201"), strategy=strategy, population=10)
    problem = _problems.get("nb201") or _problems.setdefault("nb201", make_problem(cfg))
    hvs = []
    for seed in range(3):
        search = Search(problem, make_strategy(dataclasses.replace(cfg, seed=seed)), MaxEvaluations(150), seed)
        search.run()
        hvs.append(1 - search.hypervolume() / problem.reference_hypervolume())
    assert np.median(hvs) < 0.02
