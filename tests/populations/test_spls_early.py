"""spls's early phase: the initial design over the cheap metrics and the global step (issue 25)."""

from __future__ import annotations

import numpy as np
import pytest

from evonas.api.spec import RunSpec, build_problem
from evonas.cli import main
from evonas.core.errors import UserError
from evonas.engine.driver import MaxEvaluations, Search
from evonas.problems.grid import IntegerSpace
from evonas.testing.synthetic import SyntheticProblem
from populations.surrogate_pls import OneHot, SurrogateParetoLocalSearch, initial_design
from conftest import shared_data


def test_quantile_design_draws_one_genome_per_stratum_of_the_first_column():
    pool = list(range(100))
    cost = np.array(pool[::-1], dtype=float)[:, None]  # genome g costs 99 - g
    chosen = initial_design(pool, 10, "quantile", lambda genomes: cost[genomes], np.random.default_rng(0))
    strata = sorted((99 - g) // 10 for g in chosen)
    assert strata == list(range(10))


def test_maximin_design_reaches_both_ends_and_spreads_over_the_one_hot_encoding():
    pool = list(range(50))
    chosen = initial_design(pool, 5, "maximin", lambda genomes: np.array(genomes, float)[:, None] ** 3,
                            np.random.default_rng(1))
    assert {0, 49} <= set(chosen) and len(set(chosen)) == 5
    space = IntegerSpace(positions=6, choices=5)
    rng = np.random.default_rng(2)
    genomes = list(dict.fromkeys(space.sample(rng) for _ in range(400)))
    spread = initial_design(genomes, 8, "maximin", OneHot(space), np.random.default_rng(3))
    random = genomes[:8]

    def closest(picked):
        x = OneHot(space)(picked)
        hamming = 6 - x @ x.T
        return (hamming + 99 * np.eye(len(picked))).min()

    assert closest(spread) > closest(random)


def test_an_unknown_design_is_one_clear_error(tmp_path, capsys, monkeypatch):
    with pytest.raises(UserError, match="--design must be one of random, quantile, maximin"):
        SurrogateParetoLocalSearch(design="sobol")
    monkeypatch.chdir(tmp_path)
    table = shared_data("nb201") / "nb201_table.csv"
    assert main(["search", "--space", "nb201", "--table", str(table), "--design", "sobol", "--evaluations", "5"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "--design must be one of" in err
    assert not any(tmp_path.iterdir())


def _nb201():
    spec = RunSpec(space="nb201", problem_options=dict(table=str(shared_data("nb201") / "nb201_table.csv")))
    return build_problem(spec)


def test_a_quantile_design_covers_the_cost_range_on_nb201():
    problem = _nb201()
    cost = problem.costs[:, 0]
    widest = {}
    for design in ("random", "quantile"):
        gaps = []
        for seed in range(3):
            search = Search(problem, SurrogateParetoLocalSearch(n_init=10, design=design), MaxEvaluations(10), seed)
            search.run()
            assert len({t.genome for t in search.trials}) == 10
            assert {t.operator for t in search.trials} == {"design" if design == "quantile" else "random"}
            quantiles = sorted(np.mean(cost[None, :] <= cost[[t.genome.code for t in search.trials]][:, None], axis=1))
            gaps.append(np.diff([0.0, *quantiles, 1.0]).max())  # the widest stretch of the cost range left out
        widest[design] = max(gaps)
    assert widest["quantile"] <= 0.25 < widest["random"]


def test_the_global_step_proposes_the_best_of_a_random_pool_reproducibly():
    problem = SyntheticProblem(n_objectives=2)

    def run(seed):
        search = Search(problem, SurrogateParetoLocalSearch(n_init=6, global_every=2, global_pool=64),
                        MaxEvaluations(20), seed)
        search.run()
        return search

    first, again = run(0), run(0)
    assert [t.genome for t in first.trials] == [t.genome for t in again.trials]
    assert len({t.genome for t in first.trials}) == 20
    operators = [t.operator for t in first.trials]
    assert operators[6:].count("surrogate_global") == 7  # asks 8, 10, ..., 20


def test_whole_front_proposes_the_best_scored_child_of_any_front_member_for_its_first_proposals():
    problem = SyntheticProblem(n_objectives=2)
    search = Search(problem, SurrogateParetoLocalSearch(n_init=6, whole_front=12), MaxEvaluations(10), 0)
    search.run()
    strategy = search.strategy
    assert len(strategy.front_) > 1
    children = list(dict.fromkeys(c for m in strategy.front_.trials for c in strategy._unseen_children(m)))
    score = strategy._scores(children)
    best = {children[i] for i in np.flatnonzero(score == score.max())}
    proposal = strategy.ask()
    assert proposal.genome in best and proposal.operator == "surrogate_child"
    assert proposal.parent_id in {m.id for m in strategy.front_.trials}
