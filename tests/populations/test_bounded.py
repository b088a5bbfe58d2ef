"""BoundedEvolution: constraint screening with cheap metrics, elite on the unconstrained objective."""

from __future__ import annotations

import numpy as np

from conftest import shared_data
from evonas.problems.nb201 import NB201Problem
from evonas.engine.driver import MaxEvaluations, Search
from evonas.core.objectives import Constraint
from populations.bounded import BoundedEvolution
from populations.random_search import RandomSearch

ACC, COST = "c10_test_acc_200ep_mean", "hwnb_fpga_lat_ms_c10"


def _problem() -> NB201Problem:
    return NB201Problem.from_tables(shared_data("nb201") / "nb201_table.csv", ACC, COST)


def _run(problem, strategy, bound, n=80, seed=0) -> Search:
    search = Search(problem, strategy, MaxEvaluations(n), seed, constraints=(Constraint(COST, upper=bound),))
    search.run()
    return search


def test_screening_spends_no_evaluation_on_a_known_infeasible_cell():
    problem = _problem()
    bound = float(np.quantile(problem.costs[:, 0], 0.3))  # 70 % of random cells break it
    bounded = _run(problem, BoundedEvolution(), bound)
    rand = _run(problem, RandomSearch(), bound)
    assert all(t.feasible for t in bounded.trials)
    assert sum(t.feasible for t in rand.trials) < 0.5 * len(rand.trials)


def test_elite_follows_the_unconstrained_objective_and_beats_random_search():
    problem = _problem()
    bound = float(np.quantile(problem.costs[:, 0], 0.3))
    best = lambda s: max(t.metrics[ACC] for t in s.trials if t.feasible)
    strategy = BoundedEvolution(n_init=10)
    search = _run(problem, strategy, bound, n=120)
    assert strategy.target_ == 0  # accuracy: the objective no constraint names
    elite_acc = [t.metrics[ACC] for t in strategy.elite_]
    assert elite_acc == sorted(elite_acc, reverse=True) and elite_acc[0] == best(search)
    wins = sum(best(_run(problem, BoundedEvolution(), bound, 120, s)) >= best(_run(problem, RandomSearch(), bound, 120, s))
               for s in range(3))
    assert wins >= 2


def test_without_cheap_metrics_or_constraints_it_still_proposes_unseen_genomes():
    problem = _problem()
    search = Search(problem, BoundedEvolution(n_init=5), MaxEvaluations(60), 3)
    search.run()
    genomes = [t.genome for t in search.trials]
    assert len(set(genomes)) == len(genomes) and search.hypervolume() > 0
