"""The conformance suite: pytest tests every registered plug-in must pass.

The tests call the plug-in checks of :mod:`evonas.testing.checks` and
:mod:`evonas.testing.plugin_checks` (one source of truth: a third party runs the same checks
with :func:`evonas.testing.check_strategy` and friends). Each strategy test is parametrised over
the names in :data:`evonas.api.registry.STRATEGIES` (built-in and from entry points), read when
this module is imported, so a newly registered strategy is covered without further code. They
run each strategy with its default options on the synthetic problem
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
- documents every option, gives every numeric one a range, and no CLI flag clashes with a
  problem's or a flag of ``evonas search`` (declared as data in :data:`evonas.api.spec.SEARCH_COMMAND`).

Further tests check the synthetic problem, every problem's options and search space, every
target (timed with a short protocol), every built-in objective and every morphism. A project
collects the suite with ``from evonas.testing.conformance import *``.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from evonas.api import registry
from evonas.core.errors import UserError
from evonas.core.options import options_of
from evonas.core.problem import Proposal
from evonas.testing.checks import (BUDGET, CONSTRAINTS, FAULTS, IN_FLIGHT, StrategyChecks,  # noqa: F401
                                   history, search_command_flags)
from evonas.testing.plugin_checks import (check_morphism, check_objective, check_space, check_target,
                                          check_target_options)
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
    "test_runs_and_resumes_under_a_schedule",
    "test_report_of_a_run",
    "test_options_are_documented",
    "test_option_flags_do_not_clash",
    "test_problem_options_are_documented",
    "test_search_command_flags_are_declared",
    "test_synthetic_space_conforms",
    "test_target_measures_or_refuses_clearly",
    "test_target_options_are_documented",
    "test_objective_conforms",
    "test_morphism_conforms",
]

STRATEGY_NAMES: tuple[str, ...] = registry.STRATEGIES.names()
"""The strategies under test: every registered one, read at import time."""

PROBLEM_NAMES: tuple[str, ...] = registry.PROBLEMS.names()
"""The problems under test: every registered one."""

SHARED_FLAGS_REQUIRED = frozenset({"--objectives", "--custom-objective", "--constraint", "--init", "--out",
                                   "--resume", "--no-progress", "--force-lut", "--workers", "--backend",
                                   "--trial-timeout"})

strategies = pytest.mark.parametrize("strategy", STRATEGY_NAMES)


@functools.lru_cache(maxsize=None)
def checks(name: str) -> StrategyChecks:
    """The checks of registered strategy ``name``, their reference runs shared between tests."""
    return StrategyChecks(registry.strategy_class(name), label=name)


def make_strategy(name: str):
    """A new instance of strategy ``name`` with its default options."""
    return registry.strategy_class(name)()


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
    from evonas.core.objectives import Constraint

    for bad in [(Constraint("params", upper=0.5),), (Constraint("nope", upper=1.0),),
                (Constraint("params", upper=1.0), Constraint("accuracy", lower=0.5))]:
        with pytest.raises(UserError):
            problem.check_constraints(bad)


def test_synthetic_space_conforms():
    """The synthetic problem's space passes :func:`~evonas.testing.check_space`."""
    check_space(SyntheticProblem().space)


@strategies
def test_same_seed_same_history(strategy):
    """Runs are a function of the seed: the same seed repeats the history, another changes it."""
    checks(strategy).run_check("same_seed_same_history")


@strategies
@pytest.mark.parametrize("n_objectives", [2, 3])
def test_runs_with_two_and_three_objectives(strategy, n_objectives):
    """A strategy completes its budget with k objectives, or refuses k > max_objectives at start-up."""
    checks(strategy).run_check("runs_with_two_and_three_objectives", (n_objectives,))


@strategies
def test_no_repeated_proposals(strategy):
    """No evaluation is spent on a genome already proposed (unless the class declares ``repeats_proposals``)."""
    if getattr(registry.strategy_class(strategy), "repeats_proposals", False):
        pytest.skip(f"{strategy} declares repeats_proposals")
    checks(strategy).run_check("no_repeated_proposals")


@strategies
def test_failed_and_nan_trials_are_handled(strategy):
    """Candidates that raise or return NaN are recorded as failed; the search completes and they stay off the front."""
    checks(strategy).run_check("failed_and_nan_trials_are_handled")


@strategies
def test_resume_is_exact(strategy, tmp_path):
    """Stopped once and resumed with a new strategy and problem, a run ends exactly as an uninterrupted one."""
    checks(strategy).run_check("resume_is_exact", tmp_path)


@strategies
def test_resume_twice_after_a_crash_is_exact(strategy, tmp_path):
    """Stopped twice (the second time with a candidate mid-evaluation) on a problem with faults, a run
    ends exactly as an uninterrupted one."""
    checks(strategy).run_check("resume_twice_after_a_crash_is_exact", tmp_path)


@strategies
def test_ask_tell_matches_optimize(strategy):
    """Driving a study with ask()/tell() and the problem's own evaluate gives the history of optimize()."""
    checks(strategy).run_check("ask_tell_matches_optimize")


@strategies
def test_asks_while_pending_are_distinct(strategy):
    """Asked again while earlier candidates are still being evaluated, a strategy never proposes a pending genome."""
    checks(strategy).run_check("asks_while_pending_are_distinct")


@strategies
def test_resume_of_a_parallel_run_is_exact(strategy, tmp_path):
    """A run stopped with several candidates in flight resumes exactly, the in-flight ones first under their ids."""
    checks(strategy).run_check("resume_of_a_parallel_run_is_exact", tmp_path)


@strategies
def test_runs_and_resumes_under_a_schedule(strategy, tmp_path):
    """Under ASHA every strategy keeps proposing, the front holds only the top rung, and resume is exact."""
    checks(strategy).run_check("runs_and_resumes_under_a_schedule", tmp_path)


@strategies
def test_constrained_search_and_resume(strategy, tmp_path):
    """Under a bound on a training-free cost only feasible trials enter the front, and resume is exact."""
    checks(strategy).run_check("constrained_search_and_resume", tmp_path)


@strategies
def test_report_of_a_run(strategy, tmp_path):
    """The HTML report of a stored run shows every front member, the failures, both figures and the lineage."""
    checks(strategy).run_check("report_of_a_run", tmp_path)


@strategies
def test_options_are_documented(strategy):
    """Every CLI option of the strategy has help text and every numeric one a declared range."""
    checks(strategy).run_check("options_are_documented_and_ranged")


@strategies
def test_option_flags_do_not_clash(strategy):
    """The strategy's flags clash neither with each other, nor with any problem's, nor with ``evonas search``'s own."""
    checks(strategy).run_check("option_flags_do_not_clash")


def test_search_command_flags_are_declared():
    """The flags the suite checks against are those ``evonas search`` declares, the shared ones among them."""
    missing = sorted(SHARED_FLAGS_REQUIRED - search_command_flags())
    assert not missing, f"flags of evonas search not declared in evonas.api.spec.SEARCH_COMMAND: {missing}"


@pytest.mark.parametrize("problem", PROBLEM_NAMES)
def test_problem_options_are_documented(problem):
    """Every CLI option of a registered problem factory has help text and a distinct flag."""
    options = options_of(registry.problem_factory(problem))
    undocumented = [o.name for o in options if not o.help.strip()]
    assert not undocumented, f"{problem}: options without help text in the docstring's Args: {undocumented}"
    flags = [o.flag for o in options]
    assert len(flags) == len(set(flags)) and not set(flags) & search_command_flags()


def _target_names() -> tuple[str, ...]:
    from hardware.registry import TARGETS

    return TARGETS.names()


def _short_protocol():
    from hardware.targets import TimingProtocol

    return TimingProtocol(warmup_min=5, warmup_max=20, repeats_min=10, min_seconds=0.0)


SHORT_PROTOCOL = _short_protocol()
"""How the target test times: 10 runs after at least 5 warm-up runs, no time floor (it checks that a
target times, not how precisely; the drift-compensating ones calibrate for 0.1 s, still 100 reference runs)."""


@pytest.mark.parametrize("target", _target_names())
def test_target_measures_or_refuses_clearly(target):
    """Every registered target times a small network (median and IQR in ms, JSON-able settings),
    or, where its hardware is absent (a GPU target on a CPU machine), refuses with one clear UserError."""
    from hardware.registry import target_factory

    check_target(target_factory(target), refusal_ok=lambda m: "CUDA" in m or "GPU" in m or "provider" in m,
                 protocol=SHORT_PROTOCOL, calibration_seconds=0.1)


@pytest.mark.parametrize("target", _target_names())
def test_target_options_are_documented(target):
    """Every option of a registered target has help text, and its flag clashes with no other plug-in's."""
    from hardware.registry import target_factory

    factory = target_factory(target)
    assert options_of(factory), f"{target} declares no options"
    others = set(search_command_flags())
    for name in (*STRATEGY_NAMES, *PROBLEM_NAMES):
        plugin = registry.strategy_class(name) if name in STRATEGY_NAMES else registry.problem_factory(name)
        others |= {o.flag for o in options_of(plugin)}
    check_target_options(factory, target, others)


OBJECTIVE_NAMES: tuple[str, ...] = tuple(n for n in registry.OBJECTIVES.names()
                                         if n not in ("latency_ms", "peak_memory_mb"))
"""The registered objectives checked on their own (latency and peak memory need a target: the target tests cover it)."""


@pytest.mark.parametrize("objective", OBJECTIVE_NAMES)
def test_objective_conforms(objective):
    """Every registered objective that needs no target passes :func:`~evonas.testing.check_objective`
    (latency and peak memory are covered by the target tests)."""
    check_objective(registry.OBJECTIVES.get(objective))


def _morphism_names() -> tuple[str, ...]:
    from morphisms.registry import MORPHISM_REGISTRY

    return MORPHISM_REGISTRY.names()


@pytest.mark.parametrize("name", _morphism_names())
def test_morphism_conforms(name):
    """Every registered morphism passes :func:`~evonas.testing.check_morphism` on the small MobileNet space."""
    from morphisms.registry import morphism

    check_morphism(morphism(name))

