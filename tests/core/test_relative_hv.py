"""Objective bounds are optional: without them the hypervolume is relative to the range seen so far,
the history is recomputed when that range widens, and every view says the hypervolume is relative."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pymoo.indicators.hv import HV

from evonas import Study
from evonas.api.compare import _Recorder, format_table, summarize
from evonas.cli import main
from evonas.core.objectives import Direction, Objective
from evonas.core.pareto import RANGE_MARGIN, HypervolumeHistory, ParetoArchive, hypervolume, normalisation
from evonas.engine.driver import MaxEvaluations, Search
from evonas.engine.results import StoredRun
from evonas.report import write_report
from evonas.report.view import load_run
from evonas.testing.synthetic import SyntheticProblem, SyntheticSpace
from populations.aging import AgingEvolution

NAN = float("nan")
# minimisation form: accuracy negated (declared bounds [0, 1] -> [-1, 0]); size_mb without bounds
SEEN = np.array([[-0.9, 4.0], [-0.5, 2.0], [-0.7, 6.0]])
FRONT = SEEN[:2]  # (-0.7, 6) is dominated by (-0.9, 4)


def test_normalisation_by_declared_bounds_and_the_range_seen():
    norm = normalisation(("accuracy", "size_mb"), np.array([-1.0, NAN]), np.array([0.0, NAN]), SEEN)
    assert norm.relative and norm.seen == ("size_mb",)
    assert norm.label() == "hypervolume (relative to the range seen: size_mb)"
    # size_mb runs from the best seen (2) to the worst (6) plus 10% of the range (0.4)
    assert np.allclose(norm.lower, [-1.0, 2.0]) and np.allclose(norm.upper, [0.0, 6.4])
    # scaled: (0.1, 2/4.4) and (0.5, 0); by hand 0.9 * 2.4/4.4 + 0.5 * 2/4.4 = 15.8/22
    assert norm.hypervolume(FRONT) == pytest.approx(15.8 / 22, abs=1e-12)
    scaled = np.array([[0.1, 2 / 4.4], [0.5, 0.0]])
    assert norm.hypervolume(FRONT) == pytest.approx(HV(ref_point=np.ones(2))(scaled), abs=1e-12)


def test_declared_bounds_everywhere_are_not_relative():
    lower, upper = np.array([-1.0, 0.0]), np.array([0.0, 10.0])
    norm = normalisation(("accuracy", "size_mb"), lower, upper, SEEN)
    assert not norm.relative and norm.label() == "hypervolume"
    assert np.array_equal(norm.lower, lower) and np.array_equal(norm.upper, upper)


def test_a_maximised_objective_without_bounds_runs_from_its_largest_value_down():
    # 'score' is maximised: natural values 3, 5, 4 -> minimisation form -3, -5, -4
    seen = np.array([[-3.0, 1.0], [-5.0, 3.0], [-4.0, 2.0]])
    norm = normalisation(("score", "cost"), np.array([NAN, 0.0]), np.array([NAN, 4.0]), seen)
    assert norm.seen == ("score",)
    assert norm.lower[0] == -5.0 and norm.upper[0] == pytest.approx(-3.0 + RANGE_MARGIN * 2.0)
    # the best score (5) scales to 0, the worst (3) to 1/1.1: it still adds volume
    assert norm.hypervolume(seen[[1]]) == pytest.approx(1.0 * (1 - 3.0 / 4.0))
    assert norm.hypervolume(seen[[0]]) == pytest.approx((1 - 2.0 / 2.2) * (1 - 1.0 / 4.0))


def test_a_range_of_one_value_scales_it_to_zero():
    norm = normalisation(("size_mb", "cost"), np.array([NAN, 0.0]), np.array([NAN, 1.0]), np.array([[3.0, 0.25]]))
    assert norm.upper[0] > norm.lower[0] == 3.0
    assert norm.hypervolume(np.array([[3.0, 0.25]])) == pytest.approx(0.75)
    empty = normalisation(("size_mb", "cost"), np.array([NAN, 0.0]), np.array([NAN, 1.0]))
    assert empty.relative and empty.hypervolume(np.empty((0, 2))) == 0.0


def test_history_is_recomputed_when_a_later_trial_widens_the_range():
    lower, upper = np.array([-1.0, NAN]), np.array([0.0, NAN])
    history = HypervolumeHistory(("accuracy", "size_mb"), lower, upper)
    history.see(SEEN[0])
    history.record(1, 1.0, SEEN[[0]])
    history.see(SEEN[1])
    history.record(2, 2.0, FRONT)
    before = history.entries()
    history.see(np.array([-0.1, 40.0]))  # dominated, the front is unchanged, but the range widens
    after = history.entries()
    assert [e[:2] for e in after] == [(1, 1.0), (2, 2.0)]
    assert all(b[2] != a[2] for b, a in zip(before, after))
    final = normalisation(("accuracy", "size_mb"), lower, upper, np.vstack([SEEN[:2], [-0.1, 40.0]]))
    assert [e[2] for e in after] == [final.hypervolume(SEEN[[0]]), final.hypervolume(FRONT)]


def _study(out, evaluations: int | None = None, resume: bool = False) -> Study:
    problem, strategy = SyntheticProblem(3, unbounded_costs=True), AgingEvolution(population=8, sample_size=3)
    study = Study.resume(out, problem, strategy, seed=4) if resume else Study(problem, strategy, seed=4, out=out)
    if evaluations:
        study.optimize(evaluations=evaluations)
    return study


def _fresh_history(result) -> list[float]:
    """Every front of the run, valued afresh on the final range."""
    problem, values, fronts = SyntheticProblem(3, unbounded_costs=True), [], {}
    archive = ParetoArchive()
    for n, trial in enumerate(result.trials, 1):
        if archive.add(trial):
            fronts[n] = archive.values.copy()
        values += [trial.values] if trial.feasible else []
    final = normalisation([o.name for o in problem.objectives], *problem.bounds(), np.array(values))
    return [final.hypervolume(fronts[n]) if n in fronts else 0.0 for n, _, _ in result.hypervolume]


def test_study_with_unbounded_objectives_runs_resumes_exactly_and_says_relative(tmp_path, capsys):
    with _study(tmp_path / "whole", 40) as whole:
        expected = whole.result()
    assert expected.normalisation.relative and expected.normalisation.seen == ("params", "flops")
    assert [e[2] for e in expected.hypervolume] == _fresh_history(expected)
    assert 0 < expected.hypervolume[-1][2] < 1
    with _study(tmp_path / "split", 15):
        pass
    with _study(tmp_path / "split", resume=True) as resumed:
        resumed.optimize(evaluations=40)
        got = resumed.result()
    assert [(t.id, str(t.genome), tuple(t.values)) for t in got.trials] == \
        [(t.id, str(t.genome), tuple(t.values)) for t in expected.trials]
    assert [(n, hv) for n, _, hv in got.hypervolume] == [(n, hv) for n, _, hv in expected.hypervolume]
    stored = StoredRun.read(tmp_path / "split")
    assert [(n, hv) for n, _, hv in stored.hypervolume] == [(n, hv) for n, _, hv in got.hypervolume]
    assert stored.normalisation.seen == ("params", "flops")
    label = "hypervolume (relative to the range seen: params, flops)"
    assert main(["front", str(tmp_path / "split")]) == 0
    assert label in capsys.readouterr().out.splitlines()[0]
    assert main(["history", str(tmp_path / "split")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(label)
    view = load_run(tmp_path / "split")
    assert view.hypervolume_label == label
    report = write_report(tmp_path / "split")
    assert label in report.html.read_text()


def test_declared_bounds_keep_the_hypervolume_absolute(tmp_path, capsys):
    problem = SyntheticProblem(2)
    with Study(problem, AgingEvolution(population=8, sample_size=3), seed=1, out=tmp_path / "run") as study:
        result = study.optimize(evaluations=25)
    assert not result.normalisation.relative
    fronts, archive = [], ParetoArchive()
    for trial in result.trials:
        if archive.add(trial):
            fronts.append(archive.values.copy())
    # each entry exactly as the problem's bounds alone give it
    assert [hv for _, _, hv in result.hypervolume] == [hypervolume(f, *problem.bounds()) for f in fronts]
    assert main(["front", str(tmp_path / "run")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "hypervolume" in first and "relative" not in first


def test_ask_tell_study_takes_an_objective_without_bounds():
    size = Objective("size_mb", Direction.MINIMIZE, source=lambda model, genome, context: 1.0)
    study = Study(space=SyntheticSpace(4, 3), objectives=[Objective.maximize("accuracy"), size],
                  strategy=AgingEvolution(population=4, sample_size=2), seed=0)
    for i in range(6):
        pending = study.ask()
        study.tell(pending, {"accuracy": 0.1 * i, "size_mb": 5.0 - i % 3})
    result = study.result()
    assert result.normalisation.seen == ("size_mb",) and result.front
    assert 0 < result.hypervolume[-1][2] <= 1


def test_benchmark_hypervolume_relative_on_the_final_range():
    problem = SyntheticProblem(2, unbounded_costs=True)
    recorder = _Recorder(problem, (10, 20, 30))
    search = Search(problem, AgingEvolution(population=8, sample_size=3), MaxEvaluations(30), 2, callbacks=(recorder,))
    search.run()
    series = recorder.finish()
    assert "hv_gap" not in series and len(series["hv"]) == 3
    assert series["hv"][-1] == pytest.approx(search.hypervolume(), abs=1e-12)
    results = {"checkpoints": [10, 20, 30], "reported_checkpoints": [30], "seeds": [0], "peers": [],
               "strategies": {"aging": {"hv": [series["hv"]]}},
               "problem": {"objectives": ["accuracy", "params"], "scored_on": ["accuracy", "params"],
                           "hv_relative_to": ["params"]}}
    results["summary"] = summarize(results)
    assert any("relative to the range seen: params" in line for line in format_table(results))


def test_benchmark_with_declared_bounds_is_unchanged():
    problem = SyntheticProblem(2)
    recorder, seen = _Recorder(problem, (10, 20)), []

    def front_at_checkpoints(search, trial):
        if search.n_evaluated in (10, 20):
            seen.append(hypervolume(search.scored_front(), *problem.score_bounds()))

    Search(problem, AgingEvolution(population=8, sample_size=3), MaxEvaluations(20), 2,
           callbacks=(recorder, front_at_checkpoints)).run()
    series = recorder.finish()
    assert series["hv"] == seen
    assert series["hv_gap"] == [1.0 - hv / problem.reference_hypervolume() for hv in seen]


MYMODULE = '''
def size_mb(model, genome, context):
    """float32 weights in MB, computed after training (no bounds attribute)."""
    return sum(p.numel() for p in model.parameters()) * 4 / 1e6
'''


@pytest.mark.slow
def test_cli_custom_objective_without_bounds_reaches_front_history_and_export(tmp_path, monkeypatch, capsys):
    (tmp_path / "mymodule.py").write_text(MYMODULE)
    monkeypatch.chdir(tmp_path)
    out, onnx_dir = tmp_path / "run", tmp_path / "onnx"
    assert main(["search", "--objectives", "accuracy,flops", "--custom-objective", "size_mb=mymodule:size_mb:min",
                 "--strategy", "aging", "--evaluations", "4", "--epochs", "0.5", "--population", "2",
                 "--sample-size", "2", "--resolution", "8", "--seed", "2", "--out", str(out), "--no-progress"]) == 0
    assert "hypervolume (relative to the range seen: size_mb)" in capsys.readouterr().out
    names = ["accuracy", "flops", "size_mb"]
    assert main(["front", str(out), "--format", "json"]) == 0
    front = json.loads(capsys.readouterr().out)
    assert front and all(list(f["objectives"]) == names for f in front)
    assert main(["history", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "size_mb" in lines[0] and lines[-1].startswith("hypervolume (relative to the range seen: size_mb)")
    assert main(["export", str(out), "--out", str(onnx_dir), "--select", str(front[-1]["id"])]) == 0  # one member
    manifest = json.loads((onnx_dir / "manifest.json").read_text())
    assert [m["objectives"] for m in manifest["models"]] == [front[-1]["objectives"]]
    assert all(math.isfinite(m["objectives"]["size_mb"]) and m["objectives"]["size_mb"] > 0 for m in manifest["models"])


def test_a_bad_bounds_attribute_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "badmodule.py").write_text("def f(model, genome, context):\n    return 1.0\n\nf.bounds = 5\n")
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--custom-objective", "size=badmodule:f:min", "--out", str(tmp_path / "run"),
                 "--evaluations", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "badmodule:f.bounds must be (low, high)" in err
    assert not (tmp_path / "run").exists()
