"""A run described by names (what the CLI parses and stores), turned into objects once.

:class:`RunSpec` holds only what every run has (space, objectives, constraints, budget, seed)
plus the chosen plug-ins' own options as dicts; each plug-in declares those options itself
(:func:`evonas.core.options.options_of`). The builders here turn names into objects;
:mod:`evonas.api.launch` makes a :class:`~evonas.api.study.Study` of them, and resuming a run
rebuilds them from the spec stored with it (:func:`stored_spec`), and an export takes its
plan from it (:func:`export_plan`).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from evonas.api import registry
from evonas.core.errors import UserError
from evonas.core.objectives import Constraint, Direction, Objective
from evonas.core.options import check_options, instantiate, options_of
from evonas.core.problem import Problem

if TYPE_CHECKING:  # the export imports torch and ONNX; a spec does not
    from evonas.engine.export import ExportPlan
    from evonas.engine.results import StoredRun

OWN = "accuracy"
DEFAULT_TARGET = "edge-cpu"


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a search run by name (see ``evonas search --help``).

    Attributes:
        space: the problem: mobilenet (real training), nb201 or ofa.
        problem_options: the problem factory's own options.
        strategy: the strategy's registry name; unset, the space's default
            (:data:`~evonas.api.registry.DEFAULT_STRATEGIES`: lemonade on mobilenet, spls on nb201 and grid, aging on ofa).
        strategy_options: the strategy's own options.
        objectives: built-in objectives by name (mobilenet): accuracy, latency_ms, params, flops, peak_memory_mb, and the zero-cost proxies synflow, snip, grad_norm, nwot.
        custom_objectives: ``NAME=module:function:min|max[:free]`` user objectives.
        target: the hardware target of latency and peak memory.
        target_options: the target's own options (e.g. its timing protocol's ``min_seconds``).
        lut: a latency lookup table, to predict latency instead of measuring it.
        force_lut: use ``lut`` even if built elsewhere.
        constraints: bounds such as 'latency_ms<=5'.
        max_latency: shorthand for a bound on the problem's latency (or first cost) objective.
        init: genome strings evaluated first.
        evaluations: the evaluation budget.
        time_limit: a wall-time budget in seconds.
        seed: the run seed.
        noise_aware: compare measured objectives as intervals, re-measuring side by side
            before dropping a front member on overlapping intervals.
        schedule: a multi-fidelity schedule by name (``asha``), or ``none``: every candidate
            trains its full ``epochs``.
        schedule_options: the schedule's own options (ASHA: min_epochs, max_epochs, eta).
        epoch_budget: stop once this many training epochs are spent (a promotion counts the
            epochs it adds): equal budgets for runs with and without a schedule.
        screen: ``NAME:K``: a training-free screen (:class:`~populations.screen.Screened`): K
            proposals per candidate trained, the best by objective NAME (a zero-cost proxy).
    """

    space: str = "mobilenet"
    problem_options: dict[str, Any] = field(default_factory=dict)
    strategy: str | None = None
    strategy_options: dict[str, Any] = field(default_factory=dict)
    objectives: tuple[str, ...] | None = None
    custom_objectives: tuple[str, ...] = ()
    target: str = DEFAULT_TARGET
    target_options: dict[str, Any] = field(default_factory=dict)
    lut: str | None = None
    force_lut: bool = False
    constraints: tuple[str, ...] = ()
    max_latency: float | None = None
    init: tuple[str, ...] = ()
    evaluations: int = 70
    time_limit: float | None = None
    seed: int = 0
    noise_aware: bool = False
    schedule: str = "none"
    schedule_options: dict[str, Any] = field(default_factory=dict)
    epoch_budget: float | None = None
    screen: str | None = None

    def __post_init__(self) -> None:
        if self.strategy is None and isinstance(self.space, str):  # resolved once: the stored config names it
            object.__setattr__(self, "strategy", registry.default_strategy(self.space))
        _check_types(self)
        if self.evaluations < 1:
            raise UserError(f"--evaluations must be at least 1, got {self.evaluations}")
        if self.seed < 0:
            raise UserError(f"--seed must be 0 or positive, got {self.seed}")
        if self.max_latency is not None and not 0 < self.max_latency < math.inf:
            raise UserError(f"--max-latency must be positive and finite, got {self.max_latency}")
        if self.time_limit is not None and not 0 < self.time_limit < math.inf:
            raise UserError(f"--time-limit must be positive and finite, got {self.time_limit}")
        for text in self.constraints:
            Constraint.parse(text)
        check_options(registry.strategy_class(self.strategy), self.strategy_options)
        for name in _objective_options(registry.strategy_class(self.strategy), self.strategy_options).values():
            registry.OBJECTIVES.check(name)
        check_options(registry.problem_factory(self.space), self.problem_options)
        if not self.measured_on_target and (self.target != DEFAULT_TARGET or self.target_options):
            raise UserError(f"--target and its options do not apply to --space {self.space}: its costs come from "
                            "its own tables (see --help)")
        if self.target_options:
            check_options(registry.target_factory(self.target), self.target_options)
        self._check_schedule()
        if self.screen is not None:
            parse_screen(self.screen)

    def _check_schedule(self) -> None:
        if self.epoch_budget is not None and not 0 < self.epoch_budget < math.inf:
            raise UserError(f"--epoch-budget must be positive and finite, got {self.epoch_budget}")
        check_options(registry.schedule_class(self.schedule), self.schedule_options)
        if self.schedule == registry.NO_SCHEDULE:
            return
        for name in ("epochs", "inherit_epochs"):
            if name in self.problem_options:
                raise UserError(f"--{name.replace('_', '-')} does not apply under --schedule {self.schedule}: its "
                                "rungs set each candidate's epochs (--min-epochs, --max-epochs)")

    @property
    def measured_on_target(self) -> bool:
        """Whether the space's costs are measured on a hardware target (its problem takes objectives)."""
        return "objectives" in inspect.signature(registry.problem_factory(self.space)).parameters

    def run_name(self, when: str) -> str:
        """The automatic run directory name: strategy, space, target where it applies, and ``when``."""
        target = f"-{self.target}" if self.measured_on_target else ""
        return f"{self.strategy}-{self.space}{target}-{when}".replace(":", ".")  # module:Class paths

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        for group in ("problem_options", "strategy_options", "target_options", "schedule_options"):
            options = values.get(group, {})
            if not isinstance(options, dict):
                raise UserError(f"run config field {group!r} must be a mapping, got {options!r}")
            values[group] = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
        return cls(**values)


@dataclass(frozen=True)
class ExecutorSpec:
    """Where a run's candidates are evaluated (``--workers``, ``--backend`` and their options).

    Not part of a run's definition: a run may be resumed on another backend or more workers.

    Attributes:
        workers: candidates evaluated at once.
        backend: local (in this process; one worker), process (a local process pool) or ray;
            None: local for one worker, process for more.
        address: the Ray cluster to join (ray only; None starts a local Ray instance).
        trial_timeout: seconds a candidate may take before it is stopped and recorded as failed.
        threads: CPU threads per worker (default: the usable cores divided by the workers).
        gpus_per_worker: the fraction of a GPU each Ray worker reserves (ray only).
    """

    workers: int = 1
    backend: str | None = None
    address: str | None = None
    trial_timeout: float | None = None
    threads: int | None = None
    gpus_per_worker: float = 0.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise UserError(f"--workers must be at least 1, got {self.workers}")
        if self.backend is not None:
            registry.BACKENDS.check(self.backend)
        if self.chosen == "local" and self.workers > 1:
            raise UserError(f"--backend local evaluates one candidate at a time; use --backend process or ray "
                            f"for --workers {self.workers}")
        if self.chosen != "ray" and (self.address is not None or self.gpus_per_worker):
            raise UserError("--address and --gpus-per-worker apply to --backend ray only")
        if self.trial_timeout is not None and not 0 < self.trial_timeout < math.inf:
            raise UserError(f"--trial-timeout must be a positive number of seconds, got {self.trial_timeout}")
        if self.threads is not None and self.threads < 1:
            raise UserError(f"--threads-per-worker must be at least 1, got {self.threads}")
        if not 0 <= self.gpus_per_worker < math.inf:
            raise UserError(f"--gpus-per-worker must be 0 or positive, got {self.gpus_per_worker}")

    @property
    def chosen(self) -> str:
        """The backend's name, defaults resolved."""
        return self.backend or ("local" if self.workers == 1 else "process")

    def build(self):
        """The :class:`~evonas.engine.executors.Executor` this spec describes."""
        cls = registry.BACKENDS.get(self.chosen)
        options: dict[str, Any] = {"trial_timeout": self.trial_timeout, "threads": self.threads}
        if self.chosen != "local":
            options["workers"] = self.workers
        if self.chosen == "ray":
            options.update(address=self.address, gpus_per_worker=self.gpus_per_worker)
        return cls(**options)


def _check_types(spec: "RunSpec") -> None:
    """Raise :class:`UserError` naming the first field whose value has the wrong type (a hand-edited config)."""
    import typing

    hints = typing.get_type_hints(RunSpec)
    for f in dataclasses.fields(spec):
        value, hint = getattr(spec, f.name), hints[f.name]
        args = typing.get_args(hint)
        allowed = tuple(a for a in args if a is not type(None)) if args and type(None) in args else (hint,)
        if value is None and type(None) in args:
            continue
        ok = False
        for kind in allowed:
            origin = typing.get_origin(kind) or kind
            if origin is tuple:
                ok = isinstance(value, tuple) and all(isinstance(v, str) for v in value)
            elif origin is dict:
                ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
            elif origin is float:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            elif origin is int:
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, origin)
            if ok:
                break
        if not ok:
            raise UserError(f"run config field {f.name!r} has the wrong type: {value!r} (expected {hint})")


def parse_custom_objective(text: str) -> Objective:
    """``NAME=module:function:min|max[:free]`` as an :class:`Objective` whose source is that function.

    ``free`` (or a ``training_free = True`` attribute on the function) declares it computable
    before training; a ``bounds = (low, high)`` attribute gives its hypervolume range (optional:
    without it, a training-free objective is bounded by the space's extremes, any other is scaled
    by the range seen and the hypervolume is relative).
    """
    name, eq, rest = text.partition("=")
    parts = rest.split(":")
    if not eq or len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "free"):
        raise UserError(f"malformed --custom-objective {text!r}: expected NAME=module:function:min|max[:free]")
    module, function, direction = parts[:3]
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # a module next to where the user runs evonas
    try:
        fn = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"--custom-objective {name}: cannot import {module}:{function} ({exc})") from None
    if not callable(fn):
        raise UserError(f"--custom-objective {name}: {module}:{function} is not callable")
    free = len(parts) == 4 or bool(getattr(fn, "training_free", False))
    return Objective(name.strip(), Direction.parse(direction), getattr(fn, "unit", ""), fn, free,
                     _declared_bounds(name, f"{module}:{function}", getattr(fn, "bounds", None)))


def _declared_bounds(name: str, where: str, bounds: Any) -> tuple[float, float] | None:
    """A custom objective's ``bounds`` attribute as (low, high), or ``None`` where it has none."""
    if bounds is None:
        return None
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise UserError(f"--custom-objective {name}: {where}.bounds must be (low, high), got {bounds!r}") from None
    return low, high


def build_objectives(spec: RunSpec) -> tuple[Objective, ...]:
    """The mobilenet problem's objectives: built-ins by name, then the custom ones."""
    names = spec.objectives if spec.objectives is not None else (OWN, "latency_ms")
    out = []
    target = None
    for name in names:
        factory = registry.OBJECTIVES.get(name)
        if isinstance(factory, Objective):  # a module path may name an Objective itself
            out.append(factory)
            continue
        params = inspect.signature(factory).parameters
        kwargs: dict[str, Any] = {k: v for k, v in (("lut", spec.lut), ("force_lut", spec.force_lut)) if k in params}
        if "target" in params:
            if target is None:
                from hardware.registry import get_target

                target = get_target(spec.target, **spec.target_options)
            kwargs["target"] = target
        made = factory(**kwargs)
        if not isinstance(made, Objective):
            raise UserError(f"objective {name!r} made a {type(made).__name__}, not an evonas Objective")
        out.append(made)
    out += [parse_custom_objective(text) for text in spec.custom_objectives]
    return tuple(out)


def build_problem(spec: RunSpec) -> Problem:
    """The problem named by ``spec.space`` with its options (and the objectives, where it takes them)."""
    factory = registry.problem_factory(spec.space)
    params = inspect.signature(factory).parameters
    reserved: dict[str, Any] = {"seed": spec.seed}
    if "objectives" in params:
        reserved["objectives"] = build_objectives(spec)
    elif spec.objectives is not None or spec.custom_objectives:
        raise UserError(f"--space {spec.space} takes its objectives from its own options (see --help), "
                        "not from --objectives or --custom-objective")
    if spec.lut is not None and "objectives" not in params:
        raise UserError(f"--lut only applies to --space mobilenet, not {spec.space}")
    return instantiate(factory, spec.problem_options, **reserved)


@dataclass(frozen=True)
class ScreenSpec:
    """A parsed ``--screen NAME:K``: objective NAME (a registered training-free one), K proposals per candidate."""

    objective: str
    k: int


def parse_screen(text: str) -> ScreenSpec:
    """``NAME:K`` as a :class:`ScreenSpec`; a malformed one or an unknown name is one :class:`UserError` line."""
    name, colon, count = text.rpartition(":")
    if not colon or not name or not count.isdigit() or not 1 <= int(count) <= 1000:
        raise UserError(f"malformed --screen {text!r}: expected NAME:K, e.g. nwot:8 (K from 1 to 1000)")
    registry.OBJECTIVES.check(name)
    return ScreenSpec(name, int(count))


def _objective_options(plugin, given: dict[str, Any]) -> dict[str, str]:
    """Those of ``given`` that name an objective for an :class:`Objective`-typed option of ``plugin``."""
    typed = {o.name for o in options_of(plugin) if o.type is Objective}
    return {k: v for k, v in given.items() if k in typed and isinstance(v, str)}


def build_strategy(spec: RunSpec):
    """The strategy ``spec`` names with its options (an objective option's name resolved to the
    registered objective, e.g. LEMONADE's ``prior``), behind the screen ``spec.screen`` names."""
    cls = registry.strategy_class(spec.strategy)
    named = _objective_options(cls, spec.strategy_options)
    resolved = {k: build_objectives(dataclasses.replace(spec, objectives=(v,), custom_objectives=()))[0]
                for k, v in named.items()}
    return screened(spec, instantiate(cls, {**spec.strategy_options, **resolved}))


def screened(spec: RunSpec, strategy):
    """``strategy`` behind the training-free screen ``spec.screen`` names (unchanged without one)."""
    if spec.screen is None:
        return strategy
    from populations.screen import Screened

    screen = parse_screen(spec.screen)
    return Screened(strategy, registry.OBJECTIVES.get(screen.objective)(), screen.k)


def build_schedule(spec: RunSpec):
    """The :class:`~evonas.engine.schedule.Schedule` ``spec`` names, with its options (None: none)."""
    return instantiate(registry.schedule_class(spec.schedule), spec.schedule_options)


def build_constraints(spec: RunSpec, problem: Problem) -> tuple[Constraint, ...]:
    """``--constraint`` bounds plus ``--max-latency`` on latency_ms (else the first minimised objective)."""
    constraints = tuple(Constraint.parse(c) for c in spec.constraints)
    if spec.max_latency is None:
        return constraints
    names = [o.name for o in problem.objectives]
    minimised = [o.name for o in problem.objectives if o.direction is Direction.MINIMIZE]
    if not minimised:
        raise UserError("--max-latency needs a problem with a cost objective")
    cost = "latency_ms" if "latency_ms" in names else minimised[0]
    return constraints + (Constraint(cost, upper=spec.max_latency),)


@dataclass(frozen=True)
class Flag:
    """One flag of ``evonas search``, declared as data: the CLI builds its parser from
    :data:`SEARCH_COMMAND`, and the conformance suite reads the same tuple to find clashes.

    Attributes:
        flag: the flag itself, e.g. ``--seed``.
        dest: the field its value fills: of :class:`RunSpec` (``owner`` "run"), of
            :class:`ExecutorSpec` ("executor"), or the command's own ("command").
        owner: "run", "executor" or "command".
        help: the help text.
        type: the value's type (str, int, float), "csv" for a comma-separated list, None for a switch.
        repeat: the flag may be given several times; its values are collected in order.
        metavar: the value's name in ``--help``.
        default: the default as ``--help`` shows it (None: the owner's dataclass default, if any).
        group: the ``--help`` section (None: the command's main one).
    """

    flag: str
    dest: str
    owner: str
    help: str
    type: Any = str
    repeat: bool = False
    metavar: str | None = None
    default: str | None = None
    group: str | None = None


_PARALLEL = "parallel evaluation"
SEARCH_COMMAND: tuple[Flag, ...] = (
    Flag("--space", "space", "run", "search space / problem: mobilenet (real training), nb201, ofa, grid, "
         "an evonas.problems entry point, or module:factory"),
    Flag("--strategy", "strategy", "run", "search strategy: random, aging, de, nsga2, pls, spls, bounded, lemonade, "
         "an evonas.strategies entry point, or module:Class (its options are listed below; see --strategy NAME "
         "--help)", default=", ".join(f"{s} on {space}" for space, s in registry.DEFAULT_STRATEGIES.items())),
    Flag("--target", "target", "run", "hardware target of latency: edge-cpu, cpu, onnx-cpu, gpu, onnx-gpu, "
         "an evonas.targets entry point, or module:factory"),
    Flag("--evaluations", "evaluations", "run", "number of candidates to evaluate (in total, when resuming)", int),
    Flag("--seed", "seed", "run", "run seed", int),
    Flag("--time-limit", "time_limit", "run", "stop after this many seconds", float),
    Flag("--schedule", "schedule", "run", "multi-fidelity schedule: none (every candidate trains fully) or asha "
         "(asynchronous successive halving: candidates start at --min-epochs and the best 1/--eta of each rung, by "
         "non-dominated sorting, continue from their checkpoints; its options are listed below)"),
    Flag("--screen", "screen", "run", "a training-free screen: draw K proposals per candidate, train only the best by "
         "objective NAME (a zero-cost proxy: synflow, snip, grad_norm, nwot); mobilenet only", metavar="NAME:K"),
    Flag("--epoch-budget", "epoch_budget", "run", "stop once this many training epochs are spent (a promotion "
         "counts the epochs it adds); compares schedules at equal cost", float),
    Flag("--lut", "lut", "run", "predict latency from this lookup table instead of measuring "
         "(evonas profile build-lut)"),
    Flag("--max-latency", "max_latency", "run", "bound on latency_ms (nb201: on the first cost column)", float),
    Flag("--objectives", "objectives", "run", "built-in objectives (mobilenet): accuracy, latency_ms, params, flops, "
         "peak_memory_mb, the zero-cost proxies synflow, snip, grad_norm, nwot, evonas.objectives entry points "
         "or module:factory paths", "csv",
         default="accuracy,latency_ms"),
    Flag("--custom-objective", "custom_objectives", "run", "a user objective computed by function(model, genome, "
         "context); ':free' marks it training-free; a 'bounds = (low, high)' attribute on the function fixes its "
         "hypervolume range, else the hypervolume is relative to the range seen (repeatable)", repeat=True,
         metavar="NAME=module:function:min|max[:free]"),
    Flag("--constraint", "constraints", "run", "bound on a metric, e.g. 'latency_ms<=5' (repeatable)", repeat=True),
    Flag("--init", "init", "run", "a genome string evaluated first, e.g. a known architecture (repeatable)",
         repeat=True, metavar="GENOME"),
    Flag("--out", "out", "command", "run directory", default="runs/<strategy>-<target>-<time>"),
    Flag("--resume", "resume", "command", "continue a stored run exactly (after a crash, or with a larger "
         "--evaluations)", metavar="RUN_DIR"),
    Flag("--no-progress", "no_progress", "command", "no progress bar", None),
    Flag("--quiet", "quiet", "command", "print nothing but errors: no progress bar, no summary, no front table", None),
    Flag("--json-log", "json_log", "command", "append one JSON object per evaluated candidate to FILE (JSON Lines)",
         metavar="FILE"),
    Flag("--workers", "workers", "executor", "candidates evaluated at once", int, group=_PARALLEL),
    Flag("--backend", "backend", "executor", "local (this process, one worker), process (local process pool; the "
         "default for --workers > 1) or ray (pip install 'evonas[ray]')", group=_PARALLEL),
    Flag("--address", "address", "executor", "Ray cluster address (ray; default: start a local Ray instance)",
         group=_PARALLEL),
    Flag("--trial-timeout", "trial_timeout", "executor", "seconds a candidate may take; it is then stopped and "
         "recorded as failed", float, group=_PARALLEL),
    Flag("--threads-per-worker", "threads", "executor", "CPU threads per worker (default: usable cores / workers)",
         int, group=_PARALLEL),
    Flag("--gpus-per-worker", "gpus_per_worker", "executor", "fraction of a GPU per Ray worker", float,
         group=_PARALLEL),
    Flag("--force-lut", "force_lut", "run", "use a --lut table built on another machine or library version", None),
    Flag("--noise-aware", "noise_aware", "run", "compare latencies as intervals (IQR): one beats another only where "
         "their intervals separate, and two front members are re-measured side by side before one is dropped", None),
)
"""Every flag of ``evonas search`` but the chosen plug-ins' own (those come from their declared
options, :func:`evonas.core.options.options_of`), in ``--help`` order."""

SEARCH_FLAGS: dict[str, str] = {f.dest: f.flag for f in SEARCH_COMMAND if f.owner == "run"}
"""RunSpec field -> its ``evonas search`` flag (repeated for the tuple fields but ``objectives``)."""


def search_args(spec: RunSpec) -> list[str]:
    """The ``evonas search`` flags (without ``--out``) that parse back to ``spec``; defaults are left out."""
    defaults, space_default = RunSpec(), RunSpec(space=spec.space)  # the strategy's default depends on the space
    args: list[str] = []
    for name, flag in SEARCH_FLAGS.items():
        value = getattr(spec, name)
        if value == getattr(space_default if name == "strategy" else defaults, name):
            continue
        if isinstance(value, bool):
            args.append(flag)
        elif name == "objectives":
            args += [flag, ",".join(value)]
        elif isinstance(value, tuple):
            args += [a for v in value for a in (flag, v)]
        else:
            args += [flag, _option_text(value)]
    plugins = [(registry.strategy_class(spec.strategy), spec.strategy_options),
               (registry.problem_factory(spec.space), spec.problem_options)]
    if spec.target_options:
        plugins.append((registry.target_factory(spec.target), spec.target_options))
    if spec.schedule_options:
        plugins.append((registry.schedule_class(spec.schedule), spec.schedule_options))
    for plugin, given in plugins:
        flags = {o.name: o.flag for o in options_of(plugin)}
        args += [a for name, value in given.items()
                 for a in (flags.get(name, "--" + name.replace("_", "-")), _option_text(value))]
    return args


def _option_text(value: Any) -> str:
    """A value as the command line spells it (floats round-trip exactly through ``repr``)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(value)
    return repr(value) if isinstance(value, float) else str(value)


def export_run(run_dir: str | Path, out: str | Path, select: Sequence[int] | None = None,
               quantize: str | None = None) -> list:
    """Export deployment bundles of a stored run (see :func:`evonas.engine.export.export_front`).

    The run is read once; a run made from the command line (a stored :class:`RunSpec`) gets the
    ``evonas search`` command that re-creates it in each model card.
    """
    from evonas.engine.export import export_front
    from evonas.engine.results import StoredRun

    run = StoredRun.read(run_dir)
    return export_front(run, export_plan(run), out, select=select, quantize=quantize)


def export_plan(run: "StoredRun") -> "ExportPlan":
    """The :class:`~evonas.engine.export.ExportPlan` of a stored run: its space, dataset and
    target, from its stored spec (a run made through the Python API has no dataset description).

    Raises:
        UserError: the run did not train MobileNet networks (it has no weights to export).
    """
    from evonas.engine.export import DatasetPlan, ExportPlan
    from evonas.mobilenet.problem import ImageClassification
    from evonas.mobilenet.space import SpaceConfig

    raw, problem = run.config.get("space_config"), run.config.get("problem", {})
    if raw is None or "input_shape" not in problem:
        raise UserError(f"run '{run.run_dir}' searched a {problem.get('problem', 'custom')} problem, not trained "
                        "MobileNet networks; it has no weights to export")
    spec = stored_spec(run.config)
    dataset, note = None, "the run was made through the Python API and stores no dataset description"
    if spec is not None:
        params = inspect.signature(ImageClassification.from_options).parameters.values()
        options = {**{p.name: p.default for p in params if p.default is not p.empty}, **spec.problem_options}
        dataset, note = DatasetPlan(options.get("data"), options.get("resolution"), options["val_fraction"]), ""
    target: dict[str, Any] = {}
    if spec is not None:
        target = dict(target=spec.target, target_options=dict(spec.target_options),
                      target_note="rebuilt from the run's spec")
    elif problem.get("targets"):
        target = dict(target=problem["targets"][0]["name"], target_note="the run's target with default options")
    return ExportPlan(SpaceConfig(**{k: _tuples(v) for k, v in raw.items()}), tuple(problem["input_shape"]),
                      int(problem["num_classes"]), run.objectives, run.seed, dataset, note, **target,
                      search_args=None if spec is None else tuple(search_args(spec)), front_fidelity=run.front_fidelity)


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def stored_spec(config: dict[str, Any]) -> RunSpec | None:
    """The :class:`RunSpec` in a run's stored ``config`` if it was made from one (the CLI's runs), else ``None``."""
    stored = config.get("search") or {}
    return RunSpec.from_dict(stored) if "space" in stored else None
