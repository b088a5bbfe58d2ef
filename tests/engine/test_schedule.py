"""Multi-objective ASHA: rungs, the promotion rule, asynchronous promotion, the front at the top
fidelity, epoch accounting, and exact resume mid-schedule (on the synthetic problem)."""

from __future__ import annotations

import dataclasses
import sqlite3

import numpy as np
import pytest

from evonas.api.study import Study
from evonas.core.errors import UserError
from evonas.core.objectives import Objective
from evonas.core.pareto import TopFidelityArchive
from evonas.core.problem import Budget, Trial, TrialState
from evonas.engine.driver import MaxEpochs, MaxEvaluations, Search
from evonas.engine.results import StoredRun
from evonas.engine.schedule import ASHA, PROMOTE, ranked
from evonas.problems.grid import GridProblem
from evonas.testing.synthetic import SyntheticProblem
from populations.aging import AgingEvolution
from populations.random_search import RandomSearch


def _trial(i: int, values, fidelity: float = 1.0, violation: float = 0.0, ok: bool = True) -> Trial:
    state = TrialState.OK if ok else TrialState.FAILED
    return Trial(i, f"g{i}", None, "random", state, {}, np.asarray(values, float), violation, fidelity)


def _asha(min_epochs=1.0, max_epochs=9.0, eta=3.0) -> ASHA:
    schedule = ASHA(min_epochs, max_epochs, eta)
    schedule.start(SyntheticProblem())
    return schedule


def test_rungs_are_anchored_at_the_top_and_a_table_gives_its_own_levels():
    assert ASHA(1, 9, 3).rungs() == pytest.approx((1, 3, 9))
    assert ASHA(1, 10, 3).rungs() == pytest.approx((10 / 9, 10 / 3, 10))  # the lowest at or above min_epochs
    assert ASHA(2, 2, 3).rungs() == (2,)
    assert ASHA(12, 200, 3).rungs((12.0, 200.0)) == (12.0, 200.0)
    assert ASHA(1, 100, 3).rungs((12.0, 200.0)) == (12.0,)


@pytest.mark.parametrize("options, message", [
    (dict(min_epochs=5, max_epochs=2), "min_epochs <= max_epochs"),
    (dict(eta=1.0), "--eta must be strictly between 1"),
    (dict(min_epochs=0), "--min-epochs must be strictly between 0"),
])
def test_bad_options_are_one_clear_error(options, message):
    with pytest.raises(UserError, match=message):
        ASHA(**options)


def test_a_problem_without_a_budget_or_without_the_schedules_levels_is_refused(tmp_path):
    grid = GridProblem.from_options()
    with pytest.raises(UserError, match="takes no training budget"):
        Study(grid, RandomSearch(), out=tmp_path / "run", schedule=ASHA())
    assert not (tmp_path / "run").exists()

    class Table(SyntheticProblem):
        fidelities = (12.0, 200.0)

    with pytest.raises(UserError, match=r"hold none of this problem's fidelities \(12, 200\)"):
        Search(Table(), RandomSearch(), MaxEvaluations(1), schedule=ASHA(1, 9, 3))


def test_ranking_is_nondominated_sorting_then_crowding_then_the_earlier_trial():
    # minimisation; front 0: ids 0, 1, 2, 3; front 1: id 4;
    # id 5 is infeasible and ranks last although its values dominate everything
    trials = [_trial(0, [0.0, 1.0]), _trial(1, [0.2, 0.5]), _trial(2, [0.3, 0.45]), _trial(3, [1.0, 0.0]),
              _trial(4, [0.9, 0.9]), _trial(5, [-1.0, -1.0], violation=0.5)]
    order = [t.id for t in ranked(trials)]
    assert order[:2] == [0, 3]  # a front's extremes have infinite crowding distance
    # inner points' crowding (both ranges 1): id 1: (0.3 - 0) + (1 - 0.45) = 0.85; id 2: (1 - 0.2) + (0.5 - 0) = 1.3
    assert order[2:] == [2, 1, 4, 5], order
    # equal crowding (two points, both extremes): the earlier trial first
    assert [t.id for t in ranked([_trial(7, [0.0, 1.0]), _trial(6, [1.0, 0.0])])] == [6, 7]


def test_the_promotion_rule_on_a_hand_checked_rung():
    asha = _asha()
    # 5 results at rung 0: floor(5/3) = 1 is promoted: the front's extreme first
    for t in [_trial(0, [0.5, 0.5]), _trial(1, [0.4, 0.8]), _trial(2, [0.9, 0.9]), _trial(3, [0.8, 0.1]),
              _trial(4, [0.6, 0.6])]:
        asha.tell(t)
    trial, budget = asha.promote()
    assert trial.id == 1 and budget == Budget(3.0, 9.0)  # front {1, 0, 3}: extremes 1 and 3, then the earlier
    assert asha.promote() is None  # the top 1/3 of five is one result, already promoted
    asha.tell(_trial(5, [0.1, 0.95]))
    # six results: the top two are now the front's extremes 3 and 5 (1 fell out of the top but stays
    # promoted, as in ASHA: a promotion is never taken back)
    assert [asha.promote()[0].id, asha.promote()[0].id] == [3, 5]
    assert asha.promote() is None
    assert asha.promotable() == {0, 2, 4}
    # a failed result is neither counted nor promoted
    asha.tell(_trial(6, [np.nan, np.nan], ok=False))
    assert asha.promote() is None


def test_higher_rungs_promote_first():
    asha = _asha()
    for i in range(3):
        asha.tell(_trial(i, [i, -i], fidelity=1.0))
    first, _ = asha.promote()
    for i in range(10, 13):
        asha.tell(_trial(i, [i, -i], fidelity=3.0))
    trial, budget = asha.promote()
    assert trial.fidelity == 3.0 and budget.fidelity == 9.0 and first.fidelity == 1.0


def test_promotion_is_asynchronous_with_results_out_of_order():
    problem = SyntheticProblem()
    study = Study(problem, RandomSearch(), seed=3, schedule=ASHA(1, 9, 3))
    pendings = [study.ask() for _ in range(6)]
    assert all(p.proposal.budget == Budget(1.0, 9.0) and p.proposal.resume is None for p in pendings)
    for p in reversed(pendings[3:]):  # told last-asked first, while 0..2 are still running
        study.tell(p, problem.evaluate(p.proposal))
    promoted = study.ask()  # three results at rung 0: one promotion, without waiting for the others
    assert promoted.proposal.operator == PROMOTE
    assert promoted.proposal.parent_id in {p.id for p in pendings[3:]}
    assert promoted.proposal.budget == Budget(3.0, 9.0)
    assert promoted.proposal.resume.trial_id == promoted.proposal.parent_id
    assert promoted.proposal.resume.fidelity == 1.0
    assert str(promoted.genome) == str(next(p.genome for p in pendings if p.id == promoted.proposal.parent_id))
    assert study.ask().proposal.operator != PROMOTE  # nothing else is in the top third yet
    trial = study.tell(promoted, problem.evaluate(promoted.proposal))
    assert trial.fidelity == 3.0 and trial.operator == PROMOTE


def test_the_front_holds_only_the_highest_fidelity_reached(tmp_path):
    problem = SyntheticProblem()
    study = Study(problem, AgingEvolution(population=10, sample_size=3), seed=1, out=tmp_path / "run",
                  schedule=ASHA(1, 9, 3))
    result = study.optimize(evaluations=80)
    fidelities = {t.fidelity for t in result.trials}
    assert fidelities == {1.0, 3.0, 9.0}
    assert result.front and all(t.fidelity == 9.0 for t in result.front)
    assert study.search.front_fidelity == 9.0
    # every promotion continues a result one rung below, of the same genome, promoted once
    by_id = {t.id: t for t in result.trials}
    promotions = [t for t in result.trials if t.operator == PROMOTE]
    assert promotions and all(str(by_id[t.parent_id].genome) == str(t.genome) for t in promotions)
    assert all(by_id[t.parent_id].fidelity * 3 == pytest.approx(t.fidelity) for t in promotions)
    assert len({t.parent_id for t in promotions}) == len(promotions)
    study.close()
    stored = StoredRun.read(tmp_path / "run")
    assert [t.id for t in stored.front] == sorted(t.id for t in result.front) or \
        {t.id for t in stored.front} == {t.id for t in result.front}
    assert stored.front_fidelity == 9.0
    assert stored.schedule["rungs"] == pytest.approx([1, 3, 9])
    assert stored.hypervolume[-1][2] == pytest.approx(result.hypervolume[-1][2])


def test_top_fidelity_archive_replaces_its_front_when_a_higher_fidelity_arrives():
    archive = TopFidelityArchive()
    archive.bind((Objective.minimize("a"), Objective.minimize("b")))
    assert archive.add(_trial(0, [0.1, 0.1], fidelity=1.0))
    assert archive.add(_trial(1, [0.9, 0.9], fidelity=3.0))  # worse, but at a higher fidelity
    assert [t.id for t in archive.trials] == [1] and archive.fidelity == 3.0
    assert not archive.add(_trial(2, [0.0, 0.0], fidelity=1.0))  # a lower fidelity never enters
    assert archive.add(_trial(3, [0.5, 1.0], fidelity=3.0))
    assert sorted(t.id for t in archive.trials) == [1, 3]


def test_epochs_count_what_each_rung_adds_and_bound_the_search():
    problem = SyntheticProblem()
    search = Search(problem, RandomSearch(), MaxEpochs(60), seed=2, schedule=ASHA(1, 9, 3))
    search.run()
    by_id = {t.id: t for t in search.trials}
    spent = sum(t.fidelity - (by_id[t.parent_id].fidelity if t.operator == PROMOTE else 0) for t in search.trials)
    assert search.epochs_spent == pytest.approx(spent)
    assert 60 <= search.epochs_spent < 60 + 6  # the last job asked may overrun by at most one step (3 -> 9)
    plain = Search(problem, RandomSearch(), MaxEpochs(10), seed=2)  # without a budget it reports no fidelity
    with pytest.raises(UserError, match="epoch budget needs a problem that reports"):
        plain.run()
    assert len(plain.trials) == 1


class _CheapRungs(SyntheticProblem):
    """Reports that every evaluation trained a tenth of what its budget's fidelity says (as a
    LEMONADE child's rung does: a fraction of its own, shorter, fine-tune)."""

    def evaluate(self, proposal):
        evaluation = super().evaluate(proposal)
        previous = proposal.resume.fidelity if proposal.resume is not None else 0.0
        return dataclasses.replace(evaluation, cost=(proposal.budget.fidelity - previous) / 10)


def test_an_epoch_budget_counts_each_trials_reported_cost_and_a_resume_rebuilds_it(tmp_path):
    def study(resume=False):
        args = dict(schedule=ASHA(1, 9, 3))
        if resume:
            return Study.resume(tmp_path / "run", _CheapRungs(), RandomSearch(), **args)
        return Study(_CheapRungs(), RandomSearch(), seed=2, out=tmp_path / "run", **args)

    first = study()
    first.optimize(epochs=6)
    search = first.search
    first.close()
    by_id = {t.id: t for t in search.trials}
    added = [t.fidelity - (by_id[t.parent_id].fidelity if t.operator == PROMOTE else 0) for t in search.trials]
    assert [t.cost for t in search.trials] == pytest.approx([a / 10 for a in added])
    assert search.epochs_spent == pytest.approx(sum(added) / 10)
    assert 6 <= search.epochs_spent < 6 + 0.6  # ten times the trials of a budget counted by fidelity
    resumed = study(resume=True)
    assert resumed.search.epochs_spent == search.epochs_spent  # rebuilt from the stored costs, exactly
    resumed.optimize(epochs=8)
    resumed.close()
    assert 8 <= resumed.search.epochs_spent < 8 + 0.6


def test_a_resumed_run_must_keep_its_schedule(tmp_path):
    problem = SyntheticProblem()
    with Study(problem, RandomSearch(), out=tmp_path / "run", schedule=ASHA(1, 9, 3)) as study:
        study.optimize(evaluations=5)
    with pytest.raises(UserError, match="was created with schedule"):
        Study.resume(tmp_path / "run", problem, RandomSearch(), schedule=ASHA(1, 27, 3))
    with pytest.raises(UserError, match="was created with schedule"):
        Study.resume(tmp_path / "run", problem, RandomSearch())


HISTORY = "SELECT id, genome, parent_id, operator, status, fidelity, metrics FROM candidates ORDER BY id"


def test_a_run_stopped_mid_rung_resumes_to_the_uninterrupted_history(tmp_path):
    problem, total = SyntheticProblem(), 60

    def study(out, resume=False):
        args = dict(schedule=ASHA(1, 9, 3))
        if resume:
            return Study.resume(out, problem, AgingEvolution(population=10, sample_size=3), **args)
        return Study(problem, AgingEvolution(population=10, sample_size=3), seed=5, out=out, **args)

    reference = study(tmp_path / "reference")
    trials = reference.optimize(evaluations=total).trials
    reference.close()
    stop = next(t.id for t in trials if t.operator == PROMOTE and t.fidelity == 9.0 and t.id > 20)
    run = study(tmp_path / "run")
    run.optimize(evaluations=stop)
    in_flight = run.ask()  # stopped while this promotion trains towards the top rung
    assert in_flight.proposal.operator == PROMOTE and in_flight.id == stop
    run.close()
    resumed = study(tmp_path / "run", resume=True)
    resumed.optimize(evaluations=total)
    resumed.close()
    with sqlite3.connect(tmp_path / "reference" / "run.db") as a, sqlite3.connect(tmp_path / "run" / "run.db") as b:
        assert b.execute(HISTORY).fetchall() == a.execute(HISTORY).fetchall()
