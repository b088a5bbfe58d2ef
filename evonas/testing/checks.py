"""Conformance checks of one plug-in, for its author: plain functions, no pytest needed.

Modelled on scikit-learn's ``check_estimator``: :func:`check_strategy`, :func:`check_target`,
:func:`check_objective`, :func:`check_morphism` and :func:`check_space` run every check on the
plug-in given and raise :class:`AssertionError` whose message starts with the failed check's
name (``same_seed_same_history: ...``). The shipped suite (:mod:`evonas.testing.conformance`)
calls these same checks on every registered plug-in.
"""

from __future__ import annotations

import functools
import math
import tempfile
import warnings
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from evonas.api import registry
from evonas.api.spec import SEARCH_COMMAND
from evonas.api.study import Study
from evonas.core.errors import UserError
from evonas.core.objectives import Constraint
from evonas.core.options import options_of
from evonas.core.problem import Trial, TrialState
from evonas.engine.results import StoredRun
from evonas.engine.schedule import ASHA, PROMOTE
from evonas.testing.synthetic import SyntheticProblem

BUDGET = 50
"""Evaluations per run: enough for every strategy's default random start to end."""

FAULTS = {"fail_every": 5, "nan_every": 7}
"""Fault injection of the fault-tolerance and resume checks: about one genome in three fails."""

CONSTRAINTS = (Constraint("params", upper=8.0),)
"""The bound of the constrained check: about one genome in five meets it."""

IN_FLIGHT = 4
"""Candidates pending at once in the parallel-evaluation checks (as with four workers)."""


def search_command_flags() -> frozenset[str]:
    """The flags of ``evonas search`` (from its declaration, :data:`evonas.api.spec.SEARCH_COMMAND`) and ``--help``."""
    return frozenset({"--help", "-h", *(f.flag for f in SEARCH_COMMAND)})


def _named(check: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn``; an AssertionError it raises is re-raised with the check's name in front."""
    try:
        return fn()
    except AssertionError as exc:
        raise AssertionError(f"{check}: {exc}") from exc


def _canonical(value: float) -> Any:
    return "nan" if math.isnan(value) else float(value)


def history(trials: list[Trial]) -> list[tuple]:
    """What must be reproduced exactly: ids, genomes, lineage, states, metrics, the first line of errors."""
    return [(t.id, str(t.genome), t.operator, t.parent_id, t.state.value,
             tuple(sorted((k, _canonical(v)) for k, v in t.metrics.items())), t.violation,
             None if t.error is None else t.error.splitlines()[0]) for t in trials]


def _replay_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "replayed proposals differ" in str(w.message)]


def _evaluate(problem, pending) -> Any:
    try:
        return problem.evaluate(pending.proposal)
    except Exception as exc:  # noqa: BLE001 - a failed candidate is told, not raised
        return exc


def _finish(study: Study, pending: list) -> None:
    """Tell every pending candidate, in id order."""
    for p in sorted(pending, key=lambda q: q.id):
        study.tell(p, _evaluate(study.problem, p))


def _drive_in_parallel(study: Study, budget: int, order: np.random.Generator, pending: list | None = None) -> list:
    """Drive ``study`` as :data:`IN_FLIGHT` workers would: up to that many candidates pending, each
    told at a random moment (drawn from ``order``), until ``budget`` candidates are told or pending.
    Asserts that no proposal repeats a genome still pending. Returns what is left pending."""
    pending = list(pending or [])
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
        study.tell(done, _evaluate(study.problem, done))


class StrategyChecks:
    """The conformance checks of one strategy on the synthetic problem (:mod:`evonas.testing.synthetic`).

    Each public method is one check; uninterrupted reference runs are computed once and shared.

    Args:
        factory: makes a new strategy with its default options (a class, or any callable).
        label: the strategy's name in messages.
        budget: evaluations per run.
    """

    CHECKS: tuple[str, ...] = (
        "options_are_documented_and_ranged", "option_flags_do_not_clash", "same_seed_same_history",
        "runs_with_two_and_three_objectives", "no_repeated_proposals", "failed_and_nan_trials_are_handled",
        "resume_is_exact", "resume_twice_after_a_crash_is_exact", "ask_tell_matches_optimize",
        "asks_while_pending_are_distinct", "resume_of_a_parallel_run_is_exact", "constrained_search_and_resume",
        "runs_and_resumes_under_a_schedule",
    )
    """The checks :func:`check_strategy` runs, in order (``report_of_a_run`` is extra: it needs matplotlib)."""

    def __init__(self, factory: Callable[[], Any], label: str | None = None, budget: int = BUDGET):
        self.factory = factory
        self.label = label or getattr(factory, "__qualname__", repr(factory))
        self.budget = budget
        self._runs: dict[tuple, tuple[list[Trial], list[Trial]]] = {}

    # -- helpers ----------------------------------------------------------------------------
    @property
    def cls(self) -> type:
        """The strategy's class (the factory itself when it is one)."""
        return self.factory if isinstance(self.factory, type) else type(self.factory())

    def study(self, n_objectives: int = 2, seed: int = 0, faults: bool = False,
              constraints: tuple[Constraint, ...] = (), out: Path | None = None, scheduled: bool = False) -> Study:
        """A new study of a new strategy on the synthetic problem (under :func:`schedule` if ``scheduled``)."""
        return Study(SyntheticProblem(n_objectives, **(FAULTS if faults else {})), self.factory(), constraints,
                     seed=seed, out=out, schedule=schedule() if scheduled else None)

    def run(self, n_objectives: int = 2, seed: int = 0, faults: bool = False,
            constraints: tuple[Constraint, ...] = ()) -> tuple[list[Trial], list[Trial]]:
        """(trials, front) of a fresh in-memory run."""
        study = self.study(n_objectives, seed, faults, constraints)
        result = study.optimize(evaluations=self.budget)
        study.close()
        return result.trials, result.front

    def reference(self, n_objectives: int = 2, seed: int = 0, faults: bool = False,
                  constraints: tuple[Constraint, ...] = ()) -> tuple[list[Trial], list[Trial]]:
        """An uninterrupted run, computed once and shared by the checks that compare against it."""
        key = (n_objectives, seed, faults, tuple(constraints))
        if key not in self._runs:
            self._runs[key] = self.run(*key)
        return self._runs[key]

    def supports(self, n_objectives: int) -> bool:
        limit = self.factory().max_objectives
        return limit is None or n_objectives <= limit

    def stops(self, count: int) -> list[int]:
        """``count`` distinct interruption points in [1, budget - 1], drawn from a generator seeded by the label."""
        rng = np.random.default_rng(np.random.SeedSequence([zlib.crc32(self.label.encode()), count]))
        return sorted(int(s) for s in rng.choice(np.arange(1, self.budget), size=count, replace=False))

    def check_trials(self, trials: list[Trial]) -> None:
        """The budget was spent, ids are 0..budget-1, genomes are of the space, parents come first."""
        budget = self.budget
        assert len(trials) == budget, f"{len(trials)} trials recorded, expected the budget {budget}"
        ids = [t.id for t in trials]
        assert sorted(ids) == list(range(budget)), f"trial ids are not 0..{budget - 1}: {ids}"
        space = SyntheticProblem().space
        for t in trials:
            assert space.parse(str(t.genome)) == t.genome, f"trial {t.id}: genome {t.genome!r} is not of the space"
            assert t.parent_id is None or t.parent_id < t.id, \
                f"trial {t.id}: parent {t.parent_id} was not evaluated before it"

    def interrupted(self, stops: list[int], run_dir: Path, faults: bool, crash: bool,
                    constraints: tuple[Constraint, ...] = ()) -> tuple[list[Trial], list[str]]:
        """A run stopped after each of ``stops`` evaluations, each time closed and resumed with a new
        strategy and problem, until the budget; with ``crash``, every stop after the first leaves one
        candidate asked but never told (as a crash during its evaluation would)."""
        kw = FAULTS if faults else {}
        study = Study(SyntheticProblem(2, **kw), self.factory(), constraints, seed=0, out=run_dir)
        study.optimize(evaluations=stops[0])
        study.close()
        mismatches: list[str] = []
        for stop in stops[1:] + [self.budget]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                study = Study.resume(run_dir, SyntheticProblem(2, **kw), self.factory(), seed=0,
                                     constraints=constraints)
            mismatches += _replay_warnings(caught)
            study.optimize(evaluations=stop)
            if crash and stop < self.budget:
                study.ask()  # recorded as running, never told
            trials = study.trials
            study.close()
        return trials, mismatches

    def _tmp(self, tmp: Path | None, fn: Callable[[Path], None]) -> None:
        if tmp is not None:
            fn(tmp)
            return
        with tempfile.TemporaryDirectory(prefix="evonas-check-") as made:
            fn(Path(made))

    # -- the checks -------------------------------------------------------------------------
    def options_are_documented_and_ranged(self) -> None:
        """Every option has help text (its docstring's ``Args:`` entry) and every numeric one a Range."""
        options = options_of(self.cls)
        undocumented = [o.name for o in options if not o.help.strip()]
        assert not undocumented, f"{self.label}: options without help text in the docstring's Args: {undocumented}"
        unranged = [o.name for o in options if o.type in (int, float) and o.range is None]
        assert not unranged, f"{self.label}: numeric options without Annotated[..., Range(...)]: {unranged}"

    def option_flags_do_not_clash(self) -> None:
        """The strategy's flags clash neither with each other, nor with any problem's, nor with ``evonas search``'s."""
        flags = [o.flag for o in options_of(self.cls)]
        assert len(flags) == len(set(flags)), f"{self.label}: repeated flags {flags}"
        clashes = {f: "evonas search" for f in flags if f in search_command_flags()}
        for problem in registry.PROBLEMS.names():
            problem_flags = {o.flag for o in options_of(registry.problem_factory(problem))}
            clashes.update({f: f"--space {problem}" for f in flags if f in problem_flags})
        assert not clashes, f"{self.label}: options clash with " + ", ".join(
            f"{f} ({w})" for f, w in sorted(clashes.items()))

    def same_seed_same_history(self) -> None:
        """Runs are a function of the seed: the same seed repeats the history, another changes it."""
        first, _ = self.reference()
        again, _ = self.run(seed=0)
        assert history(again) == history(first), f"{self.label}: two runs with seed 0 differ"
        other, _ = self.run(seed=1)
        assert [str(t.genome) for t in other] != [str(t.genome) for t in first], \
            f"{self.label}: seeds 0 and 1 propose the same genomes"

    def runs_with_two_and_three_objectives(self, objectives: tuple[int, ...] = (2, 3)) -> None:
        """A strategy completes its budget with k objectives, or refuses k > max_objectives at start-up."""
        for k in objectives:
            if not self.supports(k):
                try:
                    self.study(k)
                except UserError:
                    continue
                raise AssertionError(f"{self.label}: max_objectives < {k}, yet a study with {k} objectives starts")
            self._completes(k)

    def _completes(self, k: int) -> None:
        trials, front = self.reference(k)
        self.check_trials(trials)
        assert all(t.ok for t in trials), [t.error for t in trials if not t.ok][:3]
        assert front, f"{self.label}: empty front"
        assert all(len(t.values) == k for t in trials)
        values = np.array([t.values for t in front])
        for i, v in enumerate(values):  # no front member is dominated by another
            others = np.delete(values, i, axis=0)
            dominated = np.any(np.all(others <= v, axis=1) & np.any(others < v, axis=1))
            assert not dominated, f"{self.label}: dominated front member"

    def no_repeated_proposals(self) -> None:
        """No evaluation is spent on a genome already proposed (unless the class declares ``repeats_proposals``)."""
        if getattr(self.cls, "repeats_proposals", False):
            return
        for k in (2, 3):
            if not self.supports(k):
                continue
            genomes = [str(t.genome) for t in self.reference(k)[0]]
            repeats = sorted({g for g in genomes if genomes.count(g) > 1})
            assert not repeats, (f"{self.label} (k={k}) proposed {len(genomes) - len(set(genomes))} repeats "
                                 f"in {len(genomes)} proposals, e.g. {repeats[:3]}")

    def failed_and_nan_trials_are_handled(self) -> None:
        """Candidates that raise or return NaN are recorded as failed; the search completes, they stay off the front."""
        trials, front = self.reference(faults=True)
        self.check_trials(trials)
        problem = SyntheticProblem(2, **FAULTS)
        failed = [t for t in trials if not t.ok]
        assert failed, f"{self.label}: the fault injection hit no candidate; the check proves nothing"
        assert any(t.ok for t in trials)
        for t in trials:
            assert t.ok != problem.is_faulty(t.genome), \
                f"trial {t.id} ({t.genome}): state {t.state} contradicts the injected faults"
        for t in failed:
            assert t.state is TrialState.FAILED
            assert isinstance(t.error, str) and t.error.strip(), f"trial {t.id} failed without an error text"
            assert np.all(np.isnan(t.values))
        assert front, f"{self.label}: empty front"
        assert not {t.id for t in front} & {t.id for t in failed}, f"{self.label}: failed trials in the front"
        assert all(t.ok and np.all(np.isfinite(t.values)) for t in front)

    def resume_is_exact(self, tmp: Path | None = None) -> None:
        """Stopped once and resumed with a new strategy and problem, a run ends exactly as an uninterrupted one."""
        def body(where: Path) -> None:
            stops = self.stops(1)
            trials, mismatches = self.interrupted(stops, where / "run", faults=False, crash=False)
            assert not mismatches, f"{self.label}, stopped after {stops}: {mismatches[0]}"
            assert history(trials) == history(self.reference()[0]), f"{self.label}: resumed after {stops} differs"
        self._tmp(tmp, body)

    def resume_twice_after_a_crash_is_exact(self, tmp: Path | None = None) -> None:
        """Stopped twice (the second time with a candidate mid-evaluation) on a problem with faults, a run
        ends exactly as an uninterrupted one."""
        def body(where: Path) -> None:
            stops = self.stops(2)
            trials, mismatches = self.interrupted(stops, where / "run", faults=True, crash=True)
            assert not mismatches, f"{self.label}, stopped after {stops}: {mismatches[0]}"
            expected = history(self.reference(faults=True)[0])
            assert history(trials) == expected, f"{self.label}: resumed after {stops} differs"
        self._tmp(tmp, body)

    def ask_tell_matches_optimize(self) -> None:
        """Driving a study with ask()/tell() and the problem's own evaluate gives the history of optimize()."""
        study = self.study()
        for _ in range(self.budget):
            pending = study.ask()
            study.tell(pending, _evaluate(study.problem, pending))
        study.close()
        assert history(study.trials) == history(self.reference()[0]), \
            f"{self.label}: ask/tell differs from optimize"

    def asks_while_pending_are_distinct(self) -> None:
        """Asked again while earlier candidates are still being evaluated (told later, in any order), a
        strategy never proposes a genome that is pending, keeps searching, and keeps failures off the front."""
        study = self.study(faults=True)
        _finish(study, _drive_in_parallel(study, self.budget, np.random.default_rng(1)))
        trials = sorted(study.trials, key=lambda t: t.id)
        self.check_trials(trials)
        assert [t.id for t in study.trials] != list(range(self.budget)), \
            "the check told candidates in id order; it proves nothing"
        front = study.result().front
        assert front and all(t.ok for t in front), f"{self.label}: empty front or failed trials in it"
        study.close()

    def resume_of_a_parallel_run_is_exact(self, tmp: Path | None = None) -> None:
        """A run with candidates told out of order, stopped with several in flight and resumed with a new
        strategy and problem, replays the original interleaving of asks and tells: the in-flight candidates
        come back first under their ids, and the run continues exactly as the uninterrupted one."""
        self._tmp(tmp, self._parallel_resume)

    def _parallel_resume(self, where: Path, scheduled: bool = False) -> list[Trial]:
        stop, order = self.budget // 2, 2
        original = self.study(faults=True, out=where / "run", scheduled=scheduled)
        in_flight = _drive_in_parallel(original, stop, np.random.default_rng(order))
        original.close()  # as a crash would leave it: the pending candidates stay 'running'
        reference = self.study(faults=True, scheduled=scheduled)
        expected_pending = _drive_in_parallel(reference, stop, np.random.default_rng(order))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            resumed = Study.resume(where / "run", SyntheticProblem(2, **FAULTS), self.factory(), seed=0,
                                   schedule=schedule() if scheduled else None)
        assert not _replay_warnings(caught), f"{self.label}: {_replay_warnings(caught)[0]}"
        again = [resumed.ask() for _ in in_flight]
        assert [(p.id, str(p.genome)) for p in again] == [(p.id, str(p.genome)) for p in expected_pending], \
            f"{self.label}: the candidates in flight did not come back first under their ids"
        for study, pending in ((resumed, again), (reference, expected_pending)):
            _finish(study, pending)
            _finish(study, _drive_in_parallel(study, self.budget, np.random.default_rng(order + 1)))
        assert history(resumed.trials) == history(reference.trials), \
            f"{self.label}: the resumed parallel run differs"
        front = resumed.result().front
        resumed.close()
        reference.close()
        return front

    def runs_and_resumes_under_a_schedule(self, tmp: Path | None = None) -> None:
        """Under ASHA (:func:`schedule`), with failures and candidates told out of order, the strategy is
        told every rung and keeps proposing; results reach the top rung, the front holds only the top
        rung, and a run stopped with candidates in flight resumes exactly."""
        def body(where: Path) -> None:
            front = self._parallel_resume(where, scheduled=True)
            trials = StoredRun.read(where / "run").trials
            top = schedule().rungs()[-1]
            assert any(t.operator == PROMOTE and t.fidelity == top for t in trials), \
                f"{self.label}: no candidate reached the top rung under ASHA in {self.budget} evaluations"
            assert front and all(t.fidelity == top for t in front), f"{self.label}: the front mixes fidelities"
        self._tmp(tmp, body)

    def constrained_search_and_resume(self, tmp: Path | None = None) -> None:
        """Under a bound on a training-free cost the search completes, only feasible trials enter the
        front, and a run stopped once and resumed (with its constraints) ends as an uninterrupted one."""
        trials, front = self.reference(constraints=CONSTRAINTS)
        self.check_trials(trials)
        bound = CONSTRAINTS[0].upper
        for t in trials:
            assert t.violation == max(0.0, t.metrics["params"] - bound), f"trial {t.id}: violation {t.violation}"
        assert front, f"{self.label}: no feasible trial in {self.budget} evaluations under {CONSTRAINTS[0]}"
        assert all(t.feasible for t in front), f"{self.label}: infeasible trials in the front"

        def body(where: Path) -> None:
            stops = self.stops(1)
            resumed, mismatches = self.interrupted(stops, where / "run", faults=False, crash=False,
                                                   constraints=CONSTRAINTS)
            assert not mismatches, f"{self.label}, stopped after {stops}: {mismatches[0]}"
            assert history(resumed) == history(trials), \
                f"{self.label}: resumed after {stops} under {CONSTRAINTS[0]} differs"
        self._tmp(tmp, body)

    def report_of_a_run(self, tmp: Path | None = None) -> None:
        """The HTML report of a stored run (failures included, three objectives) shows every front
        member, the failures, both figures and every member's lineage back to a root."""
        self._tmp(tmp, self._report)

    def _report(self, where: Path) -> None:
        import re

        from evonas.report import write_report

        study = self.study(3, faults=True, out=where / "run")
        result = study.optimize(evaluations=30)
        study.close()
        report = write_report(where / "run")
        html = report.html.read_text()
        rows = re.findall(r'<tr data-id="(\d+)">', html)
        assert [int(i) for i in rows] == [t.id for t in result.front], f"{self.label}: front table != front"
        failed = sum(t.state is TrialState.FAILED for t in result.trials)
        assert failed and f"{failed} failed" in html
        assert {p.name for p in report.figures} == {f"{s}.{e}" for s in ("projections", "parallel", "hypervolume")
                                                    for e in ("png", "svg")}
        for t in result.front:
            chain = report.view.lineage(t.id)
            assert chain[0].id == t.id and chain[-1].parent_id is None, f"{self.label}: lineage of #{t.id} is cut"
            assert all(a.parent_id == b.id for a, b in zip(chain, chain[1:]))

    def run_check(self, check: str, *args: Any) -> None:
        """Run the check called ``check``; its AssertionError names it."""
        _named(check, functools.partial(getattr(self, check), *args))


def schedule() -> ASHA:
    """The schedule of :meth:`StrategyChecks.runs_and_resumes_under_a_schedule`: rungs at 1, 3 and 9 epochs."""
    return ASHA(min_epochs=1, max_epochs=9, eta=3)


def check_strategy(strategy: Callable[[], Any], checks: tuple[str, ...] | None = None, budget: int = BUDGET) -> None:
    """Run the strategy conformance checks on one strategy, without pytest.

    Args:
        strategy: the strategy's class (made with its default options), or a callable making a new one.
        checks: the names of the checks to run (default: :attr:`StrategyChecks.CHECKS`).
        budget: evaluations per run.

    Raises:
        AssertionError: the first failed check, its message starting with the check's name.
    """
    subject = StrategyChecks(strategy, budget=budget)
    for check in checks or StrategyChecks.CHECKS:
        subject.run_check(check)


__all__ = ["StrategyChecks", "check_strategy", "history", "search_command_flags", "BUDGET", "FAULTS", "CONSTRAINTS",
           "IN_FLIGHT"]
