"""Every declared option of every registered strategy, problem and target, fuzzed: a value either
runs (a 3-evaluation search; a built target) or is refused with one line before anything is written."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evonas.api.registry import PROBLEMS, STRATEGIES, problem_factory, strategy_class
from evonas.api.study import Study
from evonas.core.errors import UserError
from evonas.core.options import Range, instantiate, options_of
from evonas.testing.synthetic import SyntheticProblem
from hardware.registry import TARGETS, get_target

from conftest import shared_data

VALUES = st.one_of(
    st.integers(-10, 10), st.integers(-(2 ** 62), 2 ** 62),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, 0.0, -0.5, 1e300, -1e300]),
    st.text(max_size=5), st.none(), st.booleans(), st.lists(st.integers(), max_size=2))

CASES = [(name, o.name) for name in sorted(STRATEGIES) for o in options_of(strategy_class(name))]


def _refused_in_one_line(exc: UserError, run=None) -> None:
    """A refusal is one non-empty line, and (given the run directory) nothing was written."""
    assert "\n" not in str(exc) and str(exc)
    assert run is None or not run.exists()


@pytest.mark.slow  # a 3-evaluation search per example (41 options x 25)
@pytest.mark.parametrize("strategy,option", CASES, ids=[f"{s}-{o}" for s, o in CASES])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUES)
def test_an_option_value_runs_or_is_refused_before_anything_is_written(strategy, option, value, tmp_path_factory):
    run = tmp_path_factory.mktemp("fuzz") / "run"
    try:
        chosen = instantiate(strategy_class(strategy), {option: value})
        with Study(SyntheticProblem(2), chosen, seed=0, out=run) as study:
            result = study.optimize(evaluations=3)
    except UserError as exc:
        _refused_in_one_line(exc, run)
        return
    assert len(result.trials) == 3


PROBLEM_CASES = [(name, o.name) for name in sorted(PROBLEMS) for o in options_of(problem_factory(name))]


def _required_problem_options(space: str) -> dict:
    """What a table space cannot run without (skips when the shared data is absent)."""
    if space == "nb201":
        return {"table": str(shared_data("nb201") / "nb201_table.csv")}
    if space == "ofa":
        return {"data_dir": str(shared_data("ofa_mbv3"))}
    return {}


@pytest.mark.slow  # a search (or a data split) per example (19 options x 15)
@pytest.mark.parametrize("space,option", PROBLEM_CASES, ids=[f"{s}-{o}" for s, o in PROBLEM_CASES])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUES)
def test_a_problem_option_value_runs_or_is_refused_before_anything_is_written(space, option, value,
                                                                               tmp_path_factory):
    """A table or function space runs 3 evaluations; the mobilenet problem is built (with its data
    split) but not trained: a valid draw may ask for thousands of epochs."""
    from evonas.api.launch import open_study
    from evonas.api.spec import RunSpec, build_problem

    run = tmp_path_factory.mktemp("fuzz") / "run"
    try:
        spec = RunSpec(space=space, problem_options={**_required_problem_options(space), option: value},
                       evaluations=3, strategy="random")
        if space == "mobilenet":
            assert build_problem(spec).describe()
            return
        with open_study(spec, run) as study:
            result = study.optimize(evaluations=3)
    except UserError as exc:
        _refused_in_one_line(exc, run)
        return
    assert len(result.trials) == 3


TARGET_CASES = [(name, o.name) for name in sorted(TARGETS.names()) for o in options_of(TARGETS.get(name))]


@pytest.mark.parametrize("target,option", TARGET_CASES, ids=[f"{t}-{o}" for t, o in TARGET_CASES])
@settings(max_examples=15, deadline=None)
@given(value=VALUES)
def test_a_target_option_value_builds_a_target_or_is_refused_in_one_line(target, option, value):
    """Built, not timed: a valid draw may ask for an hour of timing (GPU targets refuse on a CPU machine)."""
    try:
        built = get_target(target, **{option: value})
    except UserError as exc:
        _refused_in_one_line(exc)
        return
    settings_ = built.settings()
    kept = settings_["protocol"] if option in (settings_["protocol"] or {}) else None
    assert kept is None or kept[option] == value


def test_ranges_read_and_refuse():
    population = next(o for o in options_of(strategy_class("aging")) if o.name == "population")
    assert population.range == Range(2, 10_000) and str(population.range) == "between 2 and 10000"
    with pytest.raises(UserError, match=r"^--population must be between 2 and 10000, got -3$"):
        population.parse("-3")
    assert population.parse("12") == 12
    assert not Range(0).allows(math.nan) and Range(0).allows(math.inf) and not Range(0, 1).allows(math.inf)
    assert str(Range(high=5)) == "at most 5" and str(Range(0.5)) == "at least 0.5"


def test_study_refuses_an_out_of_range_strategy_before_writing(tmp_path):
    from populations.lemonade import Lemonade

    with pytest.raises(UserError, match="^--n-ac must be between 1 and 1000, got 0$"):
        Study(SyntheticProblem(2), Lemonade(n_ac=0), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags,message", [
    (["--strategy", "aging", "--population", "-3"], "--population must be between 2 and 10000, got -3"),
    (["--strategy", "lemonade", "--n-pc", "-1"], "--n-pc must be between 1 and 1000, got -1"),
    (["--strategy", "lemonade", "--n-ac", "0"], "--n-ac must be between 1 and 1000, got 0"),
    (["--strategy", "de", "--crossover-rate", "nan"], "--crossover-rate must be between 0 and 1, got nan"),
])
def test_the_cli_refuses_out_of_range_options_in_one_line(flags, message, tmp_path, capsys):
    from evonas.cli import main

    out = tmp_path / "run"
    assert main(["search", "--space", "nb201", "--table", "unused.csv", *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_a_target_on_a_table_space_is_refused_before_writing(tmp_path, capsys):
    from evonas.cli import main

    out = tmp_path / "run"
    assert main(["search", "--space", "nb201", "--table", "unused.csv", "--target", "tpu", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--target and its options do not apply to --space nb201" in err[0]
    assert not out.exists()


def test_run_directories_are_named_after_what_runs():
    from evonas.api.spec import RunSpec

    assert RunSpec(space="nb201", strategy="de").run_name("T") == "de-nb201-T"
    assert RunSpec(space="grid", strategy="spls").run_name("T") == "spls-grid-T"
    assert RunSpec(target="onnx-cpu").run_name("T") == "lemonade-mobilenet-onnx-cpu-T"


def test_resume_restores_seed_and_constraints_from_the_store(tmp_path):
    from evonas.core.objectives import Constraint
    from populations.aging import AgingEvolution

    limit = [Constraint.parse("params<=2.5")]
    reference = Study(SyntheticProblem(2), AgingEvolution(population=6), limit, seed=7)
    reference.optimize(evaluations=16)
    first = Study(SyntheticProblem(2), AgingEvolution(population=6), limit, seed=7, out=tmp_path / "run")
    first.optimize(evaluations=8)
    first.close()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a replay that diverges warns
        resumed = Study.resume(tmp_path / "run", SyntheticProblem(2), AgingEvolution(population=6))
    assert resumed.seed == 7 and [str(c) for c in resumed.constraints] == ["params <= 2.5"]
    resumed.optimize(evaluations=16)
    assert [(t.id, str(t.genome), t.violation) for t in resumed.trials] == \
        [(t.id, str(t.genome), t.violation) for t in reference.trials]
    resumed.close()
    with pytest.raises(UserError, match="created with seed=7, not 3"):
        Study.resume(tmp_path / "run", SyntheticProblem(2), AgingEvolution(population=6), seed=3)
    with pytest.raises(UserError, match="was searched with populations.aging:AgingEvolution"):
        Study.resume(tmp_path / "run", SyntheticProblem(2), "random")
