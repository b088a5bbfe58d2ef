"""Every registered strategy on the two table benchmarks (needs ../shared/data; the conformance
suite in evonas.testing covers the same properties on a synthetic problem without it)."""

from __future__ import annotations

import numpy as np
import pytest

from evonas.api.registry import STRATEGIES
from evonas.api.spec import RunSpec, build_constraints, build_problem
from evonas.api.compare import strategy_with
from evonas.engine.driver import MaxEvaluations, Search
from conftest import shared_data

BUDGET = {"nb201": 60, "ofa": 50}
REPEATS_ALLOWED = {"nsga2"}  # pymoo's NSGA-II removes duplicates within a generation only


SHARED_OPTIONS = dict(population=8, sample_size=3, n_pc=6, n_ac=2, n_init=4)


def _spec(space: str) -> RunSpec:
    if space == "nb201":
        return RunSpec(space=space, problem_options=dict(table=str(shared_data("nb201") / "nb201_table.csv")))
    return RunSpec(space=space, problem_options=dict(data_dir=str(shared_data("ofa_mbv3"))), max_latency=25.0)


_problems: dict = {}


def _problem(space: str):
    return _problems.get(space) or _problems.setdefault(space, build_problem(_spec(space)))


def _strategy(name: str, **options):
    return strategy_with(name, {**SHARED_OPTIONS, **options})


def _run(space: str, strategy: str, seed: int):
    problem = _problem(space)
    search = Search(problem, _strategy(strategy), MaxEvaluations(BUDGET[space]), seed,
                    constraints=build_constraints(_spec(space), problem))
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
    problem = _problem("nb201")
    hvs = []
    for seed in range(3):
        search = Search(problem, _strategy(strategy, population=10), MaxEvaluations(150), seed)
        search.run()
        hvs.append(1 - search.hypervolume() / problem.reference_hypervolume())
    assert np.median(hvs) < 0.02
