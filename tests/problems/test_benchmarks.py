"""Benchmark problems (NB201 table, OFA surrogate), hv_gap, and `evonas benchmark` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evonas.api.compare import hv_gap
from evonas.problems.nb201 import N_CELLS, OPS, Cell, NB201Problem, NB201Space, parse_cell
from evonas.problems.ofa import OFAProblem
from evonas.cli import main
from evonas.core.errors import UserError
from evonas.core.objectives import Constraint
from evonas.core.problem import Proposal, TrialState
from evonas.engine.store import RunStore
from conftest import shared_data

ARCH0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
TUTORIAL_NET = "r192 k53,53,773,5573,335 e33,44,634,4443,666"  # OFA tutorial's note10 result


@pytest.fixture(scope="module")
def table():
    return shared_data("nb201") / "nb201_table.csv"


@pytest.fixture(scope="module")
def nb201(table):
    return NB201Problem.from_tables(table, "c10_test_acc_200ep_mean", "hwnb_fpga_lat_ms_c10")


@pytest.fixture(scope="module")
def ofa():
    return OFAProblem(shared_data("ofa_mbv3"))


def test_cell_strings_round_trip_and_encoding(rng):
    space = NB201Space()
    cell = parse_cell(ARCH0)
    assert str(cell) == ARCH0 and cell.ops == (4, 2, 1, 2, 1, 1)
    for _ in range(50):
        c = space.sample(rng)
        assert space.parse(str(c)) == c == space.decode(space.encode(c))
        child, op = space.mutate(c, rng)
        assert op == "mutate_edge" and sum(a != b for a, b in zip(c.ops, child.ops)) == 1
    assert len(set(space.neighbours(cell))) == 24 and cell not in space.neighbours(cell)
    assert len({Cell(tuple(int(d) for d in np.base_repr(i, 5).zfill(6))).code for i in range(N_CELLS)}) == N_CELLS
    with pytest.raises(UserError, match="malformed NB201 cell"):
        parse_cell("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_nb201_reads_columns_by_name(nb201, table):
    arch0 = nb201.evaluate(Proposal(parse_cell(ARCH0))).metrics
    assert arch0 == pytest.approx({"c10_test_acc_200ep_mean": 85.86333, "hwnb_fpga_lat_ms_c10": 2.57296})
    lower, upper = nb201.bounds()
    assert lower[0] == pytest.approx(-94.37333, abs=1e-4) and upper[0] == pytest.approx(-10.0)
    assert lower[1] == pytest.approx(1.13296) and upper[1] == pytest.approx(8.67856)
    with pytest.raises(UserError, match="no column 'c10_acc'"):
        NB201Problem.from_tables(table, "c10_acc", "hwnb_fpga_lat_ms_c10")


def test_cost_from_help_table_joins_by_arch_string(nb201, table):
    help_csv = shared_data("nb201_hw_latency_help") / "nb201_latency_ms__help.csv"
    joined = NB201Problem.from_tables(table, "c10_test_acc_200ep_mean", "fpga", cost_table=help_csv)
    np.testing.assert_allclose(joined.costs, nb201.costs)  # SOURCE.md: HELP fpga == HW-NAS-Bench C10 fpga
    pixel2 = NB201Problem.from_tables(table, "c10_test_acc_200ep_mean", "pixel2", cost_table=help_csv)
    assert pixel2.evaluate(Proposal(parse_cell(ARCH0))).metrics["pixel2"] == 9


def test_true_front_is_non_dominated_and_gap_zero_on_it(nb201):
    front = nb201.true_front()
    values = nb201.values()
    for p in front:  # nothing in the table dominates a front point
        assert not np.any(np.all(values <= p, axis=1) & np.any(values < p, axis=1))
    lower, upper = nb201.bounds()
    assert hv_gap(front, lower, upper, nb201.reference_hypervolume()) == pytest.approx(0.0, abs=1e-12)
    assert hv_gap(front[:-1], lower, upper, nb201.reference_hypervolume()) > 0


def test_hv_gap_hand_checked():
    # scaled points (0.5, 0.5) and (0.25, 0.75): HV = 0.5*0.5 + 0.25*0.25 = 0.3125
    lower, upper = np.array([0.0, 0.0]), np.array([4.0, 4.0])
    true_front = np.array([[1.0, 2.0], [2.0, 2.0], [1.0, 3.0]])
    found = np.array([[2.0, 2.0], [1.0, 3.0]])
    assert hv_gap(found, lower, upper, 0.3125 + 0.0625) == pytest.approx(1 - 0.3125 / 0.375)
    # (1, 2) scaled = (0.25, 0.5) dominates both: HV = 0.75*0.5 = 0.375, the reference
    from evonas.core.pareto import hypervolume
    assert hypervolume(true_front, lower, upper) == pytest.approx(0.375)
    assert hv_gap(np.empty((0, 2)), lower, upper, 0.375) == 1.0


def test_nb201_constraint_feasibility(nb201):
    nb201.check_constraints([Constraint("hwnb_fpga_lat_ms_c10", upper=2.0)])
    with pytest.raises(UserError, match=r"hwnb_fpga_lat_ms_c10 <= 1 is infeasible: the smallest .* is 1.133"):
        nb201.check_constraints([Constraint("hwnb_fpga_lat_ms_c10", upper=1.0)])
    with pytest.raises(UserError, match="unknown metric"):
        nb201.check_constraints([Constraint("latency_ms", upper=1.0)])
    with pytest.raises(UserError, match="cannot all hold"):
        nb201.check_constraints([Constraint("hwnb_fpga_lat_ms_c10", upper=1.2),
                                 Constraint("c10_test_acc_200ep_mean", lower=94.0)])


def test_ofa_matches_the_tutorial_check_values(ofa):
    arch = ofa.space.parse(TUTORIAL_NET)
    assert arch.depths == (2, 2, 3, 4, 3) and str(arch) == TUTORIAL_NET
    metrics = ofa.evaluate(Proposal(arch)).metrics
    assert metrics["accuracy"] == pytest.approx(0.81713, abs=5e-6)
    assert metrics["latency_ms"] == pytest.approx(24.73, abs=5e-3)
    fastest, slowest = ofa.latency_table.extremes()
    assert fastest == pytest.approx(9.89, abs=5e-3) and slowest == pytest.approx(92.4, abs=5e-2)


def test_ofa_space_operations(ofa, rng):
    space = ofa.space
    for _ in range(30):
        a = space.sample(rng)
        assert space.parse(str(a)) == a == space.decode(space.encode(a))
        child, op = space.mutate(a, rng)
        assert child != a and op.startswith("mutate_")
        space.validate(child)
        assert ofa.latency_table.extremes()[0] <= ofa.evaluate(Proposal(child)).metrics["latency_ms"]
    with pytest.raises(UserError, match="resolution 100"):
        space.parse("r100 k53,53,773,5573,335 e33,44,634,4443,666")
    with pytest.raises(UserError, match="malformed OFA genome"):
        space.parse("k53")


def test_ofa_infeasible_latency_is_a_clear_error(ofa):
    ofa.check_constraints([Constraint("latency_ms", upper=25.0)])
    with pytest.raises(UserError, match="latency_ms <= 5 is infeasible: the fastest network in the space takes 9.89 ms"):
        ofa.check_constraints([Constraint("latency_ms", upper=5.0)])


def test_search_cli_nb201_writes_a_run_store(table, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", "--space", "nb201", "--table", str(table), "--search-column", "c100_test_acc_200ep_mean",
                 "--cost-column", "hwnb_eyeriss_lat_ms_c10", "--evaluations", "60", "--seed", "1",
                 "--out", str(out), "--no-progress"]) == 0
    with RunStore.open(out) as store:
        rows = store.candidates()
        assert store.config["problem"]["problem"] == "nb201"
    assert len(rows) == 60 and all(r.status is TrialState.OK for r in rows)
    assert set(rows[0].metrics) == {"c100_test_acc_200ep_mean", "hwnb_eyeriss_lat_ms_c10"}
    assert len({r.genome for r in rows}) == 60  # the default (spls) never re-evaluates a cell
    assert "Pareto front" in capsys.readouterr().out


def test_search_cli_refuses_infeasible_bound_before_writing(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["search", "--space", "ofa", "--data-dir", str(shared_data("ofa_mbv3")), "--max-latency", "5",
                 "--out", str(out), "--no-progress"])
    assert code == 2 and not out.exists()
    assert "infeasible: the fastest network in the space takes 9.89 ms" in capsys.readouterr().err


def test_benchmark_cli_end_to_end(table, tmp_path, capsys):
    out = tmp_path / "bench"
    args = ["benchmark", "nb201", "--table", str(table), "--cost-column", "hwnb_eyeriss_lat_ms_c10",
            "--strategies", "random,aging", "--evaluations", "40", "--seeds", "2", "--out", str(out)]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["problem"]["cost_columns"] == ["hwnb_eyeriss_lat_ms_c10"]
    assert results["checkpoints"][-1] == 40 and results["checkpoints"] == sorted(results["checkpoints"])
    for name in ("random", "aging"):
        gaps = np.array(results["strategies"][name]["hv_gap"])
        assert gaps.shape == (2, len(results["checkpoints"]))
        assert np.all((gaps >= 0) & (gaps <= 1)) and np.all(np.diff(gaps, axis=1) <= 1e-12)  # fronts only improve
    assert (out / "hv_gap.png").stat().st_size > 1000
    capsys.readouterr()
    assert main(args) == 2  # refuses to overwrite results.json
    assert "already holds results.json" in capsys.readouterr().err


def test_benchmark_cli_ofa_constrained(tmp_path):
    out = tmp_path / "bench"
    assert main(["benchmark", "ofa", "--data-dir", str(shared_data("ofa_mbv3")), "--max-latency", "25",
                 "--strategies", "random,de", "--evaluations", "30", "--seeds", "2", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["problem"]["constraints"] == ["latency_ms <= 25"]
    best = np.array(results["strategies"]["de"]["best_feasible"])
    assert best.shape == (2, len(results["checkpoints"])) and np.nanmax(best) > 0.7
    assert (out / "hv.png").is_file() and (out / "best_feasible.png").is_file()


def test_search_and_benchmark_cli_nb201_three_objectives(table, tmp_path, capsys):
    """k = 3: two cost columns; the front, history and the benchmark's hv_gap all use all three."""
    out, bench = tmp_path / "run", tmp_path / "bench"
    columns = "hwnb_fpga_lat_ms_c10,params_M_c10"
    assert main(["search", "--space", "nb201", "--table", str(table), "--cost-column", columns,
                 "--evaluations", "80", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["front", str(out), "--format", "json"]) == 0
    front = json.loads(capsys.readouterr().out)
    names = ["c10_test_acc_200ep_mean", "hwnb_fpga_lat_ms_c10", "params_M_c10"]
    assert front and all(list(f["objectives"]) == names for f in front)
    pts = np.array([[-f["objectives"][names[0]], f["objectives"][names[1]], f["objectives"][names[2]]] for f in front])
    for a in pts:  # no member dominates another in all three objectives
        assert not any(np.all(b <= a) and np.any(b < a) for b in pts)
    assert main(["benchmark", "nb201", "--table", str(table), "--cost-column", columns, "--strategies",
                 "random,spls", "--evaluations", "60", "--seeds", "2", "--out", str(bench)]) == 0
    results = json.loads((bench / "results.json").read_text())
    assert results["problem"]["objectives"] == names
    for name in ("random", "spls"):
        gaps = np.array(results["strategies"][name]["hv_gap"])
        assert np.all((gaps > 0) & (gaps < 1)) and np.all(np.diff(gaps, axis=1) <= 1e-12)


def test_benchmark_cli_honest_columns_peers_and_checkpoints(table, tmp_path, capsys):
    """The issue's command: search on validation, score on test, Optuna peers, three budgets."""
    pytest.importorskip("optuna", reason="Optuna is not installed (pip install -e '.[peers]')")
    out = tmp_path / "bench"
    assert main(["benchmark", "nb201", "--table", str(table), "--search-column", "c10valid_valid_acc_200ep_mean",
                 "--score-column", "c10_test_acc_200ep_mean", "--strategies", "random,spls",
                 "--peers", "optuna-tpe,optuna-nsga2", "--checkpoints", "10,25,40", "--seeds", "2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    problem = results["problem"]
    assert problem["search_column"] == "c10valid_valid_acc_200ep_mean" == problem["objectives"][0]
    assert problem["score_column"] == "c10_test_acc_200ep_mean" == problem["scored_on"][0]
    assert 0 < problem["hv_gap_floor"] < 0.01  # a perfect search of the validation column is scored 0.0018
    assert results["peers"] == ["optuna-tpe", "optuna-nsga2"] and "distinct" in results["peer_budget"]
    assert list(results["strategies"]) == ["random", "spls", "optuna-tpe", "optuna-nsga2"]
    assert results["evaluations"] == 40 and results["reported_checkpoints"] == [10, 25, 40]
    for name, summary in results["summary"].items():
        assert list(summary["hv_gap"]) == ["10", "25", "40"]
        stats = summary["hv_gap"]["25"]
        assert 0 < stats["q25"] <= stats["median"] <= stats["q75"] < 1
        assert len(results["seconds"][name]) == 2
    assert "optuna-tpe (peer)" in printed and "hv_gap @25" in printed and "scored on c10_test_acc_200ep_mean" in printed
    assert (out / "hv_gap.png").stat().st_size > 1000


@pytest.mark.slow  # starts worker processes (--jobs 2)
def test_benchmark_results_do_not_depend_on_jobs(table, tmp_path):
    runs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}"
        assert main(["benchmark", "nb201", "--table", str(table), "--search-column", "c100_test_acc_12ep_1run",
                     "--score-column", "c100_test_acc_200ep_mean", "--strategies", "random,aging",
                     "--evaluations", "30", "--seeds", "2", "--jobs", jobs, "--out", str(out)]) == 0
        runs.append(json.loads((out / "results.json").read_text())["strategies"])
    assert runs[0] == runs[1]


def test_benchmark_cli_refuses_bad_plans_before_writing(table, tmp_path, capsys):
    out = tmp_path / "bench"
    base = ["benchmark", "nb201", "--table", str(table), "--out", str(out)]
    for extra, message in [(["--checkpoints", "100,x"], "--checkpoints takes positive evaluation counts"),
                           (["--checkpoints", "100,300", "--evaluations", "200"], "past --evaluations 200"),
                           (["--peers", "optuna-cmaes"], "unknown peer 'optuna-cmaes'"),
                           (["--strategies", "aging", "--peers", "aging"], "name aging more than once"),
                           (["--score-column", "hwnb_fpga_lat_ms_c10"], "is also a cost column"),
                           (["--jobs", "0"], "--jobs must be at least 1")]:
        assert main(base + extra) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (extra, err)
        assert not out.exists()


def test_search_cli_nb201_records_the_score_column(table, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", "--space", "nb201", "--table", str(table), "--search-column", "c10valid_valid_acc_200ep_mean",
                 "--score-column", "c10_test_acc_200ep_mean", "--evaluations", "20", "--out", str(out),
                 "--no-progress"]) == 0
    problem = NB201Problem.from_tables(table, "c10valid_valid_acc_200ep_mean", "hwnb_fpga_lat_ms_c10",
                                       score_column="c10_test_acc_200ep_mean")
    with RunStore.open(out) as store:
        rows, scores = store.candidates(), store.scores()
        described = store.config["problem"]
    assert described["search_column"] == "c10valid_valid_acc_200ep_mean"
    assert described["score_column"] == "c10_test_acc_200ep_mean"
    assert len(rows) == 20 and set(scores) == {r.id for r in rows}
    for row in rows:
        assert set(row.metrics) == {"c10valid_valid_acc_200ep_mean", "hwnb_fpga_lat_ms_c10"}
        assert scores[row.id] == {"c10_test_acc_200ep_mean": problem.score[parse_cell(row.genome).code]}
