"""The strategy conformance suite: pytest tests every registered strategy must pass.

Each test is parametrised over the names in :data:`evonas.api.registry.STRATEGIES`, read
when this module is imported, so a newly registered strategy is covered without further
code. They run each strategy with its default options on the synthetic problem
(:mod:`evonas.testing.synthetic`, no data files) and check that it

- is reproducible: the same seed gives the same history, another seed a different one;
- runs with 2 and 3 objectives (or refuses, at start-up, more than its ``max_objectives``);
- never proposes a genome twice (unless its class sets ``repeats_proposals = True``);
- survives candidates that raise or return NaN, which never enter the front;
- resumes exactly: a run stopped and resumed (once, or twice with a crash mid-evaluation)
  with a new strategy and problem ends with the history of an uninterrupted run;
- behaves the same driven through ``Study.ask``/``Study.tell`` as through ``optimize``;
- never proposes a genome still pending when asked again with four candidates in flight
  (parallel workers) told in random order, and a run stopped with candidates in flight
  resumes exactly: they come back first under their ids, and the run continues as the
  uninterrupted one;
- searches under a bound on a training-free cost, and resumes exactly under it;
- documents every option, whose CLI flag clashes with no problem's and no shared flag.

A further test checks the synthetic problem itself. A project collects the suite with
``from evonas.testing.conformance import *``.
"""

from __future__ import annotations

import ast
import functools
import math
import re
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evonas.api import registry
from evonas.api.study import Study
from evonas.core.errors import UserError
from evonas.core.objectives import Constraint
from evonas.core.options import options_of
from evonas.core.problem import Proposal, Trial, TrialState
from evonas.testing.synthetic import SyntheticProblem

__all__ = [
    "test_synthetic_problem_is_consistent",
    "test_same_seed_same_history",
    "test_runs_with_two_and_three_objectives",
    "test_no_repeated_proposals",
    "test_failed_and_nan_trials_are_handled",
    "test_resume_is_exact",
    "test_resume_twice_after_a_crash_is_exact",
    "test_ask_tell_matches_optimize",
    "test_asks_while_pending_are_distinct",
    "test_resume_of_a_parallel_run_is_exact",
    "test_constrained_search_and_resume",
    "test_report_of_a_run",
    "test_options_are_documented",
    "test_option_flags_do_not_clash",
    "test_problem_options_are_documented",
    "test_target_measures_or_refuses_clearly",
    "test_target_options_are_documented",
]

STRATEGY_NAMES: tuple[str, ...] = tuple(sorted(registry.STRATEGIES))
"""The strategies under test: every registered one, read at import time."""

BUDGET = 50
"""Evaluations per run: enough for every strategy's default random start to end."""

FAULTS = {"fail_every": 5, "nan_every": 7}
"""Fault injection of the fault-tolerance and resume tests: about one genome in three fails."""

CONSTRAINTS = (Constraint("params", upper=8.0),)
"""The bound of the constrained test: about one genome in five meets it."""

IN_FLIGHT = 4
"""Candidates pending at once in the parallel-evaluation tests (as with four workers)."""

SHARED_FLAGS_REQUIRED = frozenset({"--objectives", "--custom-objective", "--constraint", "--init", "--out",
                                   "--resume", "--no-progress", "--force-lut", "--workers", "--backend",
                                   "--trial-timeout"})

strategies = pytest.mark.parametrize("strategy", STRATEGY_NAMES)

# -- helpers ------------------------------------------------------------------------------


def make_strategy(name: str) -> Any:
    """A new instance of strategy ``name`` with its default options."""
    return registry.strategy_class(name)()


def _study(name: str, n_objectives: int, seed: int, faults: bool, constraints: tuple[Constraint, ...] = ()) -> Study:
    problem = SyntheticProblem(n_objectives, **(FAULTS if faults else {}))
    return Study(problem, make_strategy(name), constraints, seed=seed)


def _canonical(value: float) -> Any:
    return "nan" if math.isnan(value) else float(value)


def history(trials: list[Trial]) -> list[tuple]:
    """What must be reproduced exactly: ids, genomes, lineage, states, metrics, the first line of errors."""
    return [(t.id, str(t.genome), t.operator, t.parent_id, t.state.value,
             tuple(sorted((k, _canonical(v)) for k, v in t.metrics.items())), t.violation,
             None if t.error is None else t.error.splitlines()[0]) for t in trials]


def run(name: str, n_objectives: int = 2, seed: int = 0, faults: bool = False,
        constraints: tuple[Constraint, ...] = (), budget: int = BUDGET) -> tuple[list[Trial], list[Trial]]:
    """(trials, front) of a fresh in-memory run of strategy ``name`` on the synthetic problem."""
    study = _study(name, n_objectives, seed, faults, constraints)
    result = study.optimize(evaluations=budget)
    study.close()
    return result.trials, result.front


def _reference(name: str, n_objectives: int = 2, seed: int = 0, faults: bool = False,
               constraints: tuple[Constraint, ...] = ()):
    """An uninterrupted run, shared by the tests that compare against it (computed once)."""
    return _cached_run(name, n_objectives, seed, faults, tuple(constraints))


@functools.lru_cache(maxsize=None)
def _cached_run(name: str, n_objectives: int, seed: int, faults: bool, constraints: tuple[Constraint, ...]):
    return run(name, n_objectives, seed, faults, constraints)


def _stops(name: str, count: int) -> list[int]:
    """``count`` distinct interruption points in [1, BUDGET - 1], drawn from a generator seeded by the name."""
    rng = np.random.default_rng(np.random.SeedSequence([zlib.crc32(name.encode()), count]))
    return sorted(int(s) for s in rng.choice(np.arange(1, BUDGET), size=count, replace=False))


def _supports(name: str, n_objectives: int) -> bool:
    limit = make_strategy(name).max_objectives
    return limit is None or n_objectives <= limit


def _check_trials(trials: list[Trial], budget: int = BUDGET) -> None:
    assert len(trials) == budget, f"{len(trials)} trials recorded, expected the budget {budget}"
    ids = [t.id for t in trials]
    assert sorted(ids) == list(range(budget)), f"trial ids are not 0..{budget - 1}: {ids}"
    space = SyntheticProblem().space
    for t in trials:
        assert space.parse(str(t.genome)) == t.genome, f"trial {t.id}: genome {t.genome!r} is not of the space"
        assert t.parent_id is None or t.parent_id < t.id, \
            f"trial {t.id}: parent {t.parent_id} was not evaluated before it"


def _replay_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "replayed proposals differ" in str(w.message)]


def _interrupted(name: str, stops: list[int], run_dir: Path, faults: bool, crash: bool,
                 constraints: tuple[Constraint, ...] = ()) -> tuple[list[Trial], list[str]]:
    """A run stopped after each of ``stops`` evaluations, each time closed and resumed with a new
    strategy and problem, until the budget; with ``crash``, every stop after the first leaves one
    candidate asked but never told (as a crash during its evaluation would)."""
    kw = FAULTS if faults else {}
    study = Study(SyntheticProblem(2, **kw), make_strategy(name), constraints, seed=0, out=run_dir)
    study.optimize(evaluations=stops[0])
    study.close()
    mismatches: list[str] = []
    for stop in stops[1:] + [BUDGET]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            study = Study.resume(run_dir, SyntheticProblem(2, **kw), make_strategy(name), seed=0,
                                 constraints=constraints)
        mismatches += _replay_warnings(caught)
        study.optimize(evaluations=stop)
        if crash and stop < BUDGET:
            study.ask()  # recorded as running, never told
        trials = study.trials
        study.close()
    return trials, mismatches


def _drive_in_parallel(study: Study, budget: int, order: np.random.Generator,
                       pending: list | None = None) -> list:
    """Drive ``study`` as :data:`IN_FLIGHT` workers would: up to that many candidates pending, each
    told at a random moment (drawn from ``order``), until ``budget`` candidates are told or pending.
    Asserts that no proposal repeats a genome still pending. Returns what is left pending."""
    pending = list(pending or [])
    problem = study.problem
    while True:
        while len(pending) < IN_FLIGHT and len(study.trials) + len(pending) < budget:
            p = study.ask()
            in_flight = {str(q.genome) for q in pending}
            assert str(p.genome) not in in_flight, \
                f"candidate {p.id} repeats genome {p.genome}, which is still being evaluated"
            pending.append(p)
        if len(study.trials) + len(pending) >= budget and len(study.trials) >= budget - IN_FLIGHT:
            return pending
        done = pending.pop(int(order.integers(len(pending))))
        try:
            result = problem.evaluate(done.proposal)
        except Exception as exc:  # noqa: BLE001 - a failed candidate is told, not raised
            result = exc
        study.tell(done, result)


def _finish(study: Study, pending: list) -> None:
    """Tell every pending candidate, in id order."""
    for p in sorted(pending, key=lambda q: q.id):
        try:
            result = study.problem.evaluate(p.proposal)
        except Exception as exc:  # noqa: BLE001 - a failed candidate is told, not raised
            result = exc
        study.tell(p, result)


def _flags_of_search_command() -> set[str]:
    """The flags of ``evonas search`` read from its source (the CLI is a layer above this one):
    the keys of its ``SHARED`` and ``EXECUTION`` dicts and every ``--flag`` literal given to ``add_argument`` in
    ``register_search``, plus argparse's own ``--help``."""
    source = Path(__file__).resolve().parents[1] / "cli" / "search_cmd.py"
    tree = ast.parse(source.read_text(), str(source))
    flags = {"--help", "-h"}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in ("SHARED", "EXECUTION")
                                                for t in node.targets):
            assert isinstance(node.value, ast.Dict), "SHARED and EXECUTION must be dict literals"
            flags |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
        elif isinstance(node, ast.FunctionDef) and node.name == "register_search":
            calls = [c for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
                     and c.func.attr == "add_argument"]
            flags |= {a.value for c in calls for a in c.args
                      if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith("-")}
    return flags


# -- the suite ----------------------------------------------------------------------------


def test_synthetic_problem_is_consistent():
    """The problem the suite runs on: genomes round-trip, neighbours, bounds, cheap metrics, faults, constraints."""
    problem = SyntheticProblem(3, **FAULTS)
    space = problem.space
    genomes = space.genomes()
    assert len(genomes) == 4096 and len(set(genomes)) == 4096
    assert all(space.parse(str(g)) == g and space.decode(space.encode(g)) == g for g in genomes)
    rng = np.random.default_rng(0)
    for g in genomes[::97]:
        near = space.neighbours(g)
        assert len(near) == 18 and len(set(near)) == 18 and g not in near
        child, _ = space.mutate(g, rng)
        assert child in near
    with pytest.raises(UserError):
        space.parse("0-1-2")
    lower, upper = problem.bounds()
    values = problem.values()
    assert np.all(values >= lower) and np.all(values <= upper) and np.all(lower < upper)
    assert 0 < problem.reference_hypervolume() < 1
    faulty = sum(problem.is_faulty(g) for g in genomes)
    assert 0.2 < faulty / len(genomes) < 0.5
    g = next(g for g in genomes if not problem.is_faulty(g))
    metrics = problem.evaluate(Proposal(g)).metrics
    assert set(metrics) == problem.metric_names() == {"accuracy", "params", "flops"}
    assert problem.cheap_metrics(g, ["params", "flops", "accuracy"]) == {k: metrics[k] for k in ("params", "flops")}
    with pytest.raises(RuntimeError):
        problem.evaluate(Proposal(next(g for g in genomes if g.code() % FAULTS["fail_every"] == 0)))
    problem.check_constraints(CONSTRAINTS)
    for bad in [(Constraint("params", upper=0.5),), (Constraint("nope", upper=1.0),),
                (Constraint("params", upper=1.0), Constraint("accuracy", lower=0.5))]:
        with pytest.raises(UserError):
            problem.check_constraints(bad)


@strategies
def test_same_seed_same_history(strategy):
    """Runs are a function of the seed: the same seed repeats the history, another changes it."""
    first, _ = _reference(strategy)
    again, _ = run(strategy, seed=0)
    assert history(again) == history(first), f"{strategy}: two runs with seed 0 differ"
    other, _ = run(strategy, seed=1)
    assert [str(t.genome) for t in other] != [str(t.genome) for t in first], \
        f"{strategy}: seeds 0 and 1 propose the same genomes"


@strategies
@pytest.mark.parametrize("n_objectives", [2, 3])
def test_runs_with_two_and_three_objectives(strategy, n_objectives):
    """A strategy completes its budget with k objectives, or refuses k > max_objectives at start-up."""
    if not _supports(strategy, n_objectives):
        with pytest.raises(UserError):
            _study(strategy, n_objectives, 0, False)
        return
    trials, front = _reference(strategy, n_objectives)
    _check_trials(trials)
    assert all(t.ok for t in trials), [t.error for t in trials if not t.ok][:3]
    assert front, f"{strategy}: empty front"
    assert all(len(t.values) == n_objectives for t in trials)
    values = np.array([t.values for t in front])
    for i, v in enumerate(values):  # no front member is dominated by another
        others = np.delete(values, i, axis=0)
        dominated = np.any(np.all(others <= v, axis=1) & np.any(others < v, axis=1))
        assert not dominated, f"{strategy}: dominated front member"


@strategies
def test_no_repeated_proposals(strategy):
    """No evaluation is spent on a genome already proposed (unless the class declares ``repeats_proposals``)."""
    if getattr(registry.strategy_class(strategy), "repeats_proposals", False):
        pytest.skip(f"{strategy} declares repeats_proposals")
    for n_objectives in (2, 3):
        if not _supports(strategy, n_objectives):
            continue
        trials, _ = _reference(strategy, n_objectives)
        genomes = [str(t.genome) for t in trials]
        repeats = sorted({g for g in genomes if genomes.count(g) > 1})
        assert not repeats, (f"{strategy} (k={n_objectives}) proposed {len(genomes) - len(set(genomes))} repeats "
                             f"in {len(genomes)} proposals, e.g. {repeats[:3]}")


@strategies
def test_failed_and_nan_trials_are_handled(strategy):
    """Candidates that raise or return NaN are recorded as failed; the search completes and they stay off the front."""
    trials, front = _reference(strategy, faults=True)
    _check_trials(trials)
    problem = SyntheticProblem(2, **FAULTS)
    failed = [t for t in trials if not t.ok]
    assert failed, f"{strategy}: the fault injection hit no candidate; the test proves nothing"
    assert any(t.ok for t in trials)
    for t in trials:
        assert t.ok != problem.is_faulty(t.genome), \
            f"trial {t.id} ({t.genome}): state {t.state} contradicts the injected faults"
    for t in failed:
        assert t.state is TrialState.FAILED
        assert isinstance(t.error, str) and t.error.strip(), f"trial {t.id} failed without an error text"
        assert np.all(np.isnan(t.values))
    front_ids = {t.id for t in front}
    assert front, f"{strategy}: empty front"
    assert not front_ids & {t.id for t in failed}, f"{strategy}: failed trials in the front"
    assert all(t.ok and np.all(np.isfinite(t.values)) for t in front)


@strategies
def test_resume_is_exact(strategy, tmp_path):
    """Stopped once and resumed with a new strategy and problem, a run ends exactly as an uninterrupted one."""
    stops = _stops(strategy, 1)
    trials, mismatches = _interrupted(strategy, stops, tmp_path / "run", faults=False, crash=False)
    assert not mismatches, f"{strategy}, stopped after {stops}: {mismatches[0]}"
    assert history(trials) == history(_reference(strategy)[0]), f"{strategy}: resumed after {stops} differs"


@strategies
def test_resume_twice_after_a_crash_is_exact(strategy, tmp_path):
    """Stopped twice (the second time with a candidate mid-evaluation) on a problem with faults, a run
    ends exactly as an uninterrupted one."""
    stops = _stops(strategy, 2)
    trials, mismatches = _interrupted(strategy, stops, tmp_path / "run", faults=True, crash=True)
    assert not mismatches, f"{strategy}, stopped after {stops}: {mismatches[0]}"
    expected = history(_reference(strategy, faults=True)[0])
    assert history(trials) == expected, f"{strategy}: resumed after {stops} differs"


@strategies
def test_ask_tell_matches_optimize(strategy):
    """Driving a study with ask()/tell() and the problem's own evaluate gives the history of optimize()."""
    problem = SyntheticProblem(2)
    study = Study(problem, make_strategy(strategy), seed=0)
    for _ in range(BUDGET):
        pending = study.ask()
        try:
            result = problem.evaluate(pending.proposal)
        except Exception as exc:  # noqa: BLE001 - a failed candidate is told, not raised
            result = exc
        study.tell(pending, result)
    study.close()
    assert history(study.trials) == history(_reference(strategy)[0])


@strategies
def test_asks_while_pending_are_distinct(strategy):
    """Asked again while earlier candidates are still being evaluated (told later, in any order), a
    strategy never proposes a genome that is pending, keeps searching, and keeps failures off the front."""
    study = Study(SyntheticProblem(2, **FAULTS), make_strategy(strategy), seed=0)
    _finish(study, _drive_in_parallel(study, BUDGET, np.random.default_rng(1)))
    trials = sorted(study.trials, key=lambda t: t.id)
    _check_trials(trials)
    assert [t.id for t in study.trials] != list(range(BUDGET)), "the test told candidates in id order; it proves nothing"
    front = study.result().front
    assert front and all(t.ok for t in front), f"{strategy}: empty front or failed trials in it"
    study.close()


@strategies
def test_resume_of_a_parallel_run_is_exact(strategy, tmp_path):
    """A run with candidates told out of order, stopped with several in flight and resumed with a new
    strategy and problem, replays the original interleaving of asks and tells: the in-flight candidates
    come back first under their ids, and the run continues exactly as the uninterrupted one."""
    stop, schedule = BUDGET // 2, 2
    original = Study(SyntheticProblem(2, **FAULTS), make_strategy(strategy), seed=0, out=tmp_path / "run")
    in_flight = _drive_in_parallel(original, stop, np.random.default_rng(schedule))
    original.close()  # as a crash would leave it: the pending candidates stay 'running'
    reference = Study(SyntheticProblem(2, **FAULTS), make_strategy(strategy), seed=0)
    expected_pending = _drive_in_parallel(reference, stop, np.random.default_rng(schedule))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = Study.resume(tmp_path / "run", SyntheticProblem(2, **FAULTS), make_strategy(strategy), seed=0)
    assert not _replay_warnings(caught), f"{strategy}: {_replay_warnings(caught)[0]}"
    again = [resumed.ask() for _ in in_flight]
    assert [(p.id, str(p.genome)) for p in again] == [(p.id, str(p.genome)) for p in expected_pending]
    for study, pending in ((resumed, again), (reference, expected_pending)):
        _finish(study, pending)
        _finish(study, _drive_in_parallel(study, BUDGET, np.random.default_rng(schedule + 1)))
    assert history(resumed.trials) == history(reference.trials), f"{strategy}: the resumed parallel run differs"
    resumed.close()
    reference.close()


@strategies
def test_constrained_search_and_resume(strategy, tmp_path):
    """Under a bound on a training-free cost the search completes, only feasible trials enter the
    front, and a run stopped once and resumed (with its constraints) ends as an uninterrupted one."""
    trials, front = _reference(strategy, constraints=CONSTRAINTS)
    _check_trials(trials)
    bound = CONSTRAINTS[0].upper
    for t in trials:
        assert t.violation == max(0.0, t.metrics["params"] - bound), f"trial {t.id}: violation {t.violation}"
    assert front, f"{strategy}: no feasible trial in {BUDGET} evaluations under {CONSTRAINTS[0]}"
    assert all(t.feasible for t in front), f"{strategy}: infeasible trials in the front"
    stops = _stops(strategy, 1)
    resumed, mismatches = _interrupted(strategy, stops, tmp_path / "run", faults=False, crash=False,
                                       constraints=CONSTRAINTS)
    assert not mismatches, f"{strategy}, stopped after {stops}: {mismatches[0]}"
    assert history(resumed) == history(trials), f"{strategy}: resumed after {stops} under {CONSTRAINTS[0]} differs"


@strategies
def test_report_of_a_run(strategy, tmp_path):
    """The HTML report of a stored run (failures included, three objectives) shows every front
    member, the failures, both figures and every member's lineage back to a root."""
    from evonas.report import write_report

    study = Study(SyntheticProblem(3, **FAULTS), make_strategy(strategy), seed=0, out=tmp_path / "run")
    result = study.optimize(evaluations=30)
    study.close()
    report = write_report(tmp_path / "run")
    html = report.html.read_text()
    rows = re.findall(r'<tr data-id="(\d+)">', html)
    assert [int(i) for i in rows] == [t.id for t in result.front], f"{strategy}: front table != front"
    failed = sum(t.state is TrialState.FAILED for t in result.trials)
    assert failed and f"{failed} failed" in html
    assert {p.name for p in report.figures} == {f"{s}.{e}" for s in ("projections", "parallel", "hypervolume")
                                                for e in ("png", "svg")}
    for t in result.front:
        chain = report.view.lineage(t.id)
        assert chain[0].id == t.id and chain[-1].parent_id is None, f"{strategy}: lineage of #{t.id} is cut"
        assert all(a.parent_id == b.id for a, b in zip(chain, chain[1:]))


@strategies
def test_options_are_documented(strategy):
    """Every CLI option of the strategy has help text (its docstring's ``Args:`` entry)."""
    options = options_of(registry.strategy_class(strategy))
    undocumented = [o.name for o in options if not o.help.strip()]
    assert not undocumented, f"{strategy}: options without help text in the docstring's Args: {undocumented}"


@strategies
def test_option_flags_do_not_clash(strategy):
    """The strategy's flags clash neither with each other, nor with any problem's, nor with ``evonas search``'s own."""
    flags = [o.flag for o in options_of(registry.strategy_class(strategy))]
    assert len(flags) == len(set(flags)), f"{strategy}: repeated flags {flags}"
    shared = _flags_of_search_command()
    missing = sorted(SHARED_FLAGS_REQUIRED - shared)
    assert not missing, f"flags of evonas search not found in its source: {missing}"
    clashes = {f: "evonas search" for f in flags if f in shared}
    for problem in sorted(registry.PROBLEMS):
        problem_flags = {o.flag for o in options_of(registry.problem_factory(problem))}
        clashes.update({f: f"--space {problem}" for f in flags if f in problem_flags})
    assert not clashes, f"{strategy}: options clash with " + ", ".join(f"{f} ({w})" for f, w in sorted(clashes.items()))


PROBLEM_NAMES: tuple[str, ...] = tuple(sorted(registry.PROBLEMS))
"""The problems under test: every registered one."""


@pytest.mark.parametrize("problem", PROBLEM_NAMES)
def test_problem_options_are_documented(problem):
    """Every CLI option of a registered problem factory has help text and a distinct flag."""
    options = options_of(registry.problem_factory(problem))
    undocumented = [o.name for o in options if not o.help.strip()]
    assert not undocumented, f"{problem}: options without help text in the docstring's Args: {undocumented}"
    flags = [o.flag for o in options]
    assert len(flags) == len(set(flags)) and not set(flags) & _flags_of_search_command()


def _target_names() -> tuple[str, ...]:
    from hardware.registry import TARGETS

    return tuple(sorted(TARGETS))


@pytest.mark.parametrize("target", _target_names())
def test_target_measures_or_refuses_clearly(target):
    """Every registered target times a small network (median and IQR in ms, JSON-able settings),
    or, where its hardware is absent (a GPU target on a CPU machine), refuses with one clear UserError."""
    import json

    import torch
    from hardware.registry import get_target

    try:
        resolved = get_target(target)
    except UserError as exc:
        assert "\n" not in str(exc) and ("CUDA" in str(exc) or "GPU" in str(exc) or "provider" in str(exc))
        return
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 8 * 8, 10)).eval()
    measurement = resolved.measure(model, (1, 8, 8))
    assert 0 < measurement.median_ms < 1000 and measurement.iqr_ms >= 0
    json.dumps(resolved.settings())


@pytest.mark.parametrize("target", _target_names())
def test_target_options_are_documented(target):
    """Every option of a registered target has help text, and its flag clashes with no other plug-in's."""
    from hardware.registry import TARGETS

    options = options_of(TARGETS[target])
    assert options and not [o.name for o in options if not o.help.strip()]
    flags = {o.flag for o in options}
    others = set(_flags_of_search_command())
    for name in (*STRATEGY_NAMES, *PROBLEM_NAMES):
        plugin = registry.strategy_class(name) if name in STRATEGY_NAMES else registry.problem_factory(name)
        others |= {o.flag for o in options_of(plugin)}
    assert not flags & others, f"{target}: flags {sorted(flags & others)} clash with another plug-in's"
