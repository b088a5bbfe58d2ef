"""NB201's tabular multi-fidelity mode (--fidelity-columns) and `evonas benchmark` at an equal epoch
budget with and without ASHA. On a tiny synthetic NB201 table written to a temporary CSV."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest

from evonas.api.compare import _Recorder
from evonas.cli import main
from evonas.core.errors import UserError
from evonas.core.pareto import ParetoArchive, TopFidelityArchive, hypervolume
from evonas.core.problem import Budget, Checkpoint, Proposal
from evonas.engine.driver import MaxEpochs, Search
from evonas.engine.schedule import ASHA, PROMOTE
from evonas.problems.nb201 import N_CELLS, NB201Problem, _cells_by_string
from populations.random_search import RandomSearch
from conftest import shared_data

LOW, TOP, SCORE, COST = "acc_12ep", "valid_acc_200ep", "test_acc_200ep", "latency"
LEVELS = f"12={LOW},200={TOP}"


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """Every cell once: a 200-epoch validation column, a noisy 12-epoch one, a test column, a latency."""
    rng = np.random.default_rng(0)
    top = rng.uniform(40, 95, N_CELLS)
    low = np.clip(top - 20 + rng.normal(0, 8, N_CELLS), 5, 100)
    score = np.clip(top + rng.normal(0, 2, N_CELLS), 0, 100)
    latency = rng.uniform(1, 9, N_CELLS)
    path = tmp_path_factory.mktemp("nb201") / "table.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["arch_str", LOW, TOP, SCORE, COST])
        for i, arch in enumerate(_cells_by_string()):  # code order
            out.writerow([arch, low[i], top[i], score[i], latency[i]])
    return path


@pytest.fixture(scope="module")
def problem(table):
    return NB201Problem.from_options(table=str(table), fidelity_columns=tuple(LEVELS.split(",")),
                                     score_column=SCORE, cost_column=(COST,))


def test_each_budget_reads_its_own_column_reported_under_the_search_column(problem):
    cell = problem.space.decode([3, 1, 0, 2, 4, 3])
    low, top, score = problem.rungs[12.0][1][cell.code], problem.accuracy[cell.code], problem.score[cell.code]
    assert problem.fidelities == (12.0, 200.0) and not problem.trains_networks
    assert [o.name for o in problem.objectives] == [TOP, COST] and problem.search_column == TOP
    at_12 = problem.evaluate(Proposal(cell, None, "random", budget=Budget(12.0, 200.0)))
    at_200 = problem.evaluate(Proposal(cell, 0, PROMOTE, budget=Budget(200.0, 200.0),
                                       resume=Checkpoint(0, 12.0, dict(at_12.metrics))))
    plain = problem.evaluate(Proposal(cell, None, "random"))  # no schedule: the top level
    assert (at_12.fidelity, at_200.fidelity, plain.fidelity) == (12.0, 200.0, 200.0)
    assert at_12.metrics[TOP] == low != top and at_200.metrics[TOP] == plain.metrics[TOP] == top
    assert at_12.scores == at_200.scores == {SCORE: score}  # held out at every rung
    assert set(at_12.metrics) == {TOP, COST}
    with pytest.raises(ValueError, match="no accuracy column at fidelity 50; its fidelities: 12, 200"):
        problem.evaluate(Proposal(cell, None, "random", budget=Budget(50.0, 200.0)))
    lower, upper = problem.bounds()  # the accuracy's range covers every rung, so no rung leaves the box
    assert -lower[0] == max(problem.rungs[12.0][1].max(), problem.accuracy.max())
    assert -upper[0] == min(problem.rungs[12.0][1].min(), problem.accuracy.min())
    assert problem.describe()["fidelity_columns"] == {"12": LOW, "200": TOP} and problem.describe()["honest"]


def test_asha_promotes_and_its_front_holds_only_200_epoch_trials(problem):
    search = Search(problem, RandomSearch(), MaxEpochs(3000), seed=4, schedule=ASHA(12, 200, 3))
    search.run()
    promoted = [t for t in search.trials if t.operator == PROMOTE]
    fresh = [t for t in search.trials if t.operator != PROMOTE]
    assert promoted and all(t.fidelity == 200.0 for t in promoted) and all(t.fidelity == 12.0 for t in fresh)
    by_id = {t.id: t for t in search.trials}
    for t in promoted:  # same genome, continues a 12-epoch result; reports the 200-epoch column
        assert by_id[t.parent_id].genome == t.genome and by_id[t.parent_id].fidelity == 12.0
        assert t.metrics[TOP] == problem.accuracy[t.genome.code]
    assert search.epochs_spent == 12 * len(fresh) + 188 * len(promoted)
    assert 3000 <= search.epochs_spent < 3000 + 188
    assert search.front_fidelity == 200.0 and isinstance(search.archive, TopFidelityArchive)
    assert search.front() and all(t.fidelity == 200.0 for t in search.front())


def test_without_a_schedule_every_evaluation_costs_200_epochs(problem):
    search = Search(problem, RandomSearch(), MaxEpochs(2000), seed=1)
    search.run()
    assert len(search.trials) == 10 and search.epochs_spent == 2000
    assert all(t.fidelity == 200.0 for t in search.trials)


@pytest.mark.parametrize("options, message", [
    (dict(score_column=LOW), f"--score-column '{LOW}' is the fidelity 12 column: the search would see the score"),
    (dict(search_column=LOW), f"--search-column '{LOW}' must be the top fidelity's column '{TOP}'"),
    (dict(fidelity_columns=(f"12={LOW}",)), "--fidelity-columns needs at least two levels, got 1"),
    (dict(fidelity_columns=(f"x={LOW}", f"200={TOP}")), "takes LEVEL=COLUMN entries with a positive level"),
    (dict(fidelity_columns=(f"-3={LOW}", f"200={TOP}")), "got '-3=acc_12ep'"),
    (dict(fidelity_columns=(f"12={LOW}", f"12.0={TOP}")), "names level 12 twice"),
    (dict(fidelity_columns=(f"12={LOW}", "200=nope")), "has no column 'nope'"),
])
def test_bad_fidelity_columns_are_refused_in_one_line(table, options, message):
    options = {"fidelity_columns": tuple(LEVELS.split(",")), "score_column": SCORE, **options}
    with pytest.raises(UserError, match=message) as caught:
        NB201Problem.from_options(table=str(table), cost_column=(COST,), **options)
    assert "\n" not in str(caught.value)


def test_scoring_on_the_top_column_is_allowed_and_marked_not_honest(table, tmp_path, capsys):
    """c100 and in16 have no 200-epoch validation column: the top rung may be the score column itself."""
    dishonest = NB201Problem.from_options(table=str(table), fidelity_columns=(f"12={LOW}", f"200={SCORE}"),
                                          score_column=SCORE, cost_column=(COST,))
    assert dishonest.describe()["honest"] is False
    cell = dishonest.space.decode([0, 1, 2, 3, 4, 0])
    at_12 = dishonest.evaluate(Proposal(cell, None, "random", budget=Budget(12.0, 200.0)))
    # a 12-epoch front member is scored on the 200-epoch column, not on the 12-epoch value it reported
    assert at_12.metrics[SCORE] == dishonest.rungs[12.0][1][cell.code] != at_12.scores[SCORE]
    assert at_12.scores[SCORE] == dishonest.score[cell.code]
    out = tmp_path / "bench"
    assert main(["benchmark", "nb201", "--table", str(table), "--fidelity-columns", f"12={LOW},200={SCORE}",
                 "--score-column", SCORE, "--cost-column", COST, "--strategies", "random", "--schedule", "asha",
                 "--epoch-budget", "1000", "--seeds", "1", "--out", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["problem"]["honest"] is False
    assert f"NOT HONEST: the search reads the score column {SCORE}" in capsys.readouterr().out


def _bench(table, out, *extra):
    return main(["benchmark", "nb201", "--table", str(table), "--fidelity-columns", LEVELS, "--score-column", SCORE,
                 "--cost-column", COST, "--out", str(out), *extra])


def test_benchmark_runs_each_strategy_with_and_without_asha_at_equal_epochs(table, tmp_path, capsys):
    out = tmp_path / "bench"
    assert _bench(table, out, "--strategies", "random,aging", "--population", "8", "--sample-size", "3",
                  "--schedule", "asha", "--eta", "3", "--epoch-budget", "3000", "--checkpoints", "1000,3000",
                  "--seeds", "2") == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert list(results["strategies"]) == ["random", "random+asha", "aging", "aging+asha"]
    assert results["budget_unit"] == "epochs" and results["epoch_budget"] == 3000
    assert results["schedule"] == {"schedule": "asha", "min_epochs": 12.0, "max_epochs": 200.0, "eta": 3.0,
                                   "rungs": [12.0, 200.0]}
    assert results["reported_checkpoints"] == [1000, 3000] and results["checkpoints"][-1] == 3000
    assert results["epochs"]["random"] == [3000, 3000] and results["trials"]["random"] == [15, 15]
    for name in ("random+asha", "aging+asha"):
        assert all(3000 <= e < 3000 + 188 for e in results["epochs"][name])
        assert all(n > 15 for n in results["trials"][name])  # cheap 12-epoch looks: more candidates
    for name, metrics in results["strategies"].items():
        gaps = np.array(metrics["hv_gap"])
        assert gaps.shape == (2, len(results["checkpoints"])) and np.all((gaps >= 0) & (gaps <= 1)), name
    assert "hv_gap @3000ep" in printed and "random+asha" in printed and "ratio to the same strategy" in printed
    assert "NOT HONEST" not in printed


def test_an_epoch_checkpoint_scores_the_front_held_before_the_trial_that_passes_it(problem):
    checkpoints = (500, 1000, 1500)
    recorder = _Recorder(problem, checkpoints, epochs=True)
    search = Search(problem, RandomSearch(), MaxEpochs(1500), seed=2, callbacks=(recorder,),
                    schedule=ASHA(12, 200, 3))
    search.run()
    recorder.flush()
    by_id, spent, expected = {t.id: t for t in search.trials}, 0.0, []
    archive = TopFidelityArchive(ParetoArchive)
    archive.bind(problem.objectives)
    waiting = list(checkpoints)
    for t in search.trials:  # replay: the epochs each trial adds, the front before it
        added = t.fidelity - (by_id[t.parent_id].fidelity if t.operator == PROMOTE else 0.0)
        while waiting and spent + added > waiting[0]:
            expected.append(_score(problem, archive.trials))
            waiting.pop(0)
        spent += added
        archive.add(t)
        while waiting and spent >= waiting[0]:
            expected.append(_score(problem, archive.trials))
            waiting.pop(0)
    assert len(expected) == 3 and recorder.series["hv"] == pytest.approx(expected)


def _score(problem, trials) -> float:
    rows = np.array([[-problem.score[t.genome.code], problem.costs[t.genome.code, 0]] for t in trials])
    return hypervolume(rows.reshape(-1, 2), *problem.score_bounds())


@pytest.mark.parametrize("extra, message", [
    (["--schedule", "asha"], "--schedule asha compares at an equal epoch budget: give --epoch-budget E"),
    (["--epoch-budget", "1000", "--evaluations", "10"], "--evaluations and --epoch-budget are two budgets"),
    (["--epoch-budget", "1000", "--checkpoints", "500,2000"], "past --epoch-budget 1000"),
    (["--epoch-budget", "-5"], "--epoch-budget must be positive and finite"),
    (["--schedule", "asha", "--epoch-budget", "1000", "--min-epochs", "20", "--max-epochs", "100"],
     r"ASHA's epochs \[20, 100\] hold none of this problem's fidelities"),
    (["--score-column", LOW, "--epoch-budget", "1000"], "is the fidelity 12 column"),
])
def test_bad_epoch_benchmarks_are_one_line_exit_2_nothing_written(table, tmp_path, capsys, extra, message):
    out = tmp_path / "bench"
    assert _bench(table, out, "--strategies", "random", *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    assert not out.exists()


def test_an_epoch_budget_needs_a_problem_with_fidelities(table, tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["benchmark", "nb201", "--table", str(table), "--search-column", TOP, "--cost-column", COST,
                 "--strategies", "random", "--epoch-budget", "1000", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--epoch-budget counts epochs, and nb201 reports none" in err[0]
    assert not out.exists()


def test_the_real_table_reads_the_12_and_200_epoch_columns():
    table = shared_data("nb201") / "nb201_table.csv"
    problem = NB201Problem.from_options(
        table=str(table), fidelity_columns=("12=c10_test_acc_12ep_1run", "200=c10valid_valid_acc_200ep_mean"),
        score_column="c10_test_acc_200ep_mean")
    arch0 = problem.space.parse("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|"
                                "skip_connect~1|skip_connect~2|")
    at_12 = problem.evaluate(Proposal(arch0, None, "random", budget=Budget(12.0, 200.0)))
    at_200 = problem.evaluate(Proposal(arch0, None, "random"))
    assert at_12.metrics["c10valid_valid_acc_200ep_mean"] == pytest.approx(69.55)  # SOURCE.md's arch 0
    assert at_200.metrics["c10valid_valid_acc_200ep_mean"] == pytest.approx(81.98266666)
    assert at_12.scores == at_200.scores == {"c10_test_acc_200ep_mean": pytest.approx(85.86333333)}
    assert problem.describe()["honest"] is True
