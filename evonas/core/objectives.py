"""Objectives and constraints as values.

An :class:`Objective` is a named metric with a direction, a unit and a *source*: ``None``
when the problem itself produces the metric (validation accuracy, a benchmark table's
column), or a callable ``source(model, genome, context) -> float`` evaluated on the built
network. A source declared ``training_free`` is computed on the untrained network, so it can
screen candidates and check constraints before any training; otherwise it sees the trained
network. Built-in sources (params, FLOPs, peak memory, latency on a target) live in
:mod:`hardware.objectives`; any user function works the same way.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from evonas.core.errors import UserError

_NAME = re.compile(r"[A-Za-z_][\w]*")


class Direction(enum.Enum):
    """Whether an objective is minimised or maximised; the value is the sign to minimise it."""

    MINIMIZE = 1.0
    MAXIMIZE = -1.0

    @classmethod
    def parse(cls, text: str) -> "Direction":
        """'min'/'minimize' or 'max'/'maximize'."""
        key = text.strip().lower()
        if key in ("min", "minimize", "minimise"):
            return cls.MINIMIZE
        if key in ("max", "maximize", "maximise"):
            return cls.MAXIMIZE
        raise UserError(f"unknown direction {text!r}: expected 'min' or 'max'")


@dataclass(frozen=True)
class MetricContext:
    """What a metric source sees besides the model and the genome.

    Attributes:
        input_shape: (C, H, W) of one input.
        num_classes: number of output classes.
        metrics: the metrics already computed for this candidate (sources run in the order
            the objectives are listed, training-free ones first).
        trained: whether the model has been trained.
        sample: a fixed batch of training data for sources that need some (the zero-cost
            proxies of :mod:`evonas.mobilenet.proxies`), the same for every candidate of a run;
            ``None`` where the problem has no data.
    """

    input_shape: tuple[int, ...]
    num_classes: int
    metrics: Mapping[str, float] = field(default_factory=dict)
    trained: bool = False
    sample: Any = None


MetricSource = Callable[[Any, Any, MetricContext], Any]
"""``source(model, genome, context)`` returns a float, or a mapping that holds the
objective's name (extra keys, such as a latency's IQR, are recorded as further metrics)."""


@dataclass(frozen=True)
class Objective:
    """A named metric with a direction, a unit and where its value comes from.

    ``Objective.minimize("size_mb", unit="MB", source=model_size_mb, training_free=True)``.

    Attributes:
        name: the metric's name, as it appears in the run store, ``front`` and ``history``.
        direction: minimise or maximise.
        unit: for tables and plots ('ms', 'MB', ...).
        source: ``None`` when the problem produces the metric itself, else
            ``source(model, genome, context)`` (see :data:`MetricSource`).
        training_free: the source needs no trained weights (computed before training).
        bounds: the (low, high) range in natural units used to scale the hypervolume;
            ``None`` lets the problem derive it (e.g. from the space's largest network), else
            the hypervolume is scaled by the range seen so far and called relative.
    """

    name: str
    direction: Direction
    unit: str = ""
    source: MetricSource | None = field(default=None, compare=False)
    training_free: bool = False
    bounds: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise UserError(f"objective name {self.name!r} must be an identifier (letters, digits, '_')")
        if not isinstance(self.direction, Direction):
            raise UserError(f"objective {self.name!r}: direction must be a Direction, got {self.direction!r}")
        if self.bounds is not None and not (len(self.bounds) == 2 and self.bounds[0] < self.bounds[1]):
            raise UserError(f"objective {self.name!r}: bounds must be (low, high) with low < high, got {self.bounds!r}")

    @classmethod
    def minimize(cls, name: str, unit: str = "", source: MetricSource | None = None,
                 training_free: bool = False, bounds: tuple[float, float] | None = None) -> "Objective":
        """An objective to minimise (a cost: latency, parameters); arguments as for the class."""
        return cls(name, Direction.MINIMIZE, unit, source, training_free, bounds)

    @classmethod
    def maximize(cls, name: str, unit: str = "", source: MetricSource | None = None,
                 training_free: bool = False, bounds: tuple[float, float] | None = None) -> "Objective":
        """An objective to maximise (a quality: accuracy); arguments as for the class."""
        return cls(name, Direction.MAXIMIZE, unit, source, training_free, bounds)

    def to_min(self, value: float) -> float:
        """``value`` in minimisation form (maximised objectives are negated)."""
        return self.direction.value * value

    def describe(self) -> dict[str, Any]:
        """A JSON-able description for the run store (the source by its qualified name)."""
        src = self.source
        where = None if src is None else f"{getattr(src, '__module__', '?')}:{getattr(src, '__qualname__', type(src).__qualname__)}"
        return {"name": self.name, "direction": self.direction.name, "unit": self.unit,
                "source": where, "training_free": self.training_free,
                "bounds": None if self.bounds is None else list(self.bounds)}


def check_objectives(objectives: tuple[Objective, ...]) -> None:
    """Raise :class:`UserError` unless there are at least two objectives with distinct names."""
    names = [o.name for o in objectives]
    if len(objectives) < 2:
        raise UserError(f"a multi-objective search needs at least 2 objectives, got {len(objectives)}: {names}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"objective names must be unique; repeated: {', '.join(dup)}")


def to_min_vector(objectives: tuple[Objective, ...], metrics: Mapping[str, float]) -> np.ndarray:
    """The metrics of ``objectives`` as one minimisation-form vector."""
    return np.array([o.to_min(float(metrics[o.name])) for o in objectives])


def interval_names(name: str) -> tuple[str, str]:
    """The metric names under which a problem may report the interval of metric ``name``.

    A measured metric (latency) comes with an interval (its quartiles) as ``<name>_low`` and
    ``<name>_high``; noise-aware dominance compares those instead of the point value.
    """
    return f"{name}_low", f"{name}_high"


def to_min_intervals(objectives: tuple[Objective, ...], metrics: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Minimisation-form (low, high) vectors of ``objectives``; an objective without an interval is a point."""
    low, high = [], []
    for o in objectives:
        lo_name, hi_name = interval_names(o.name)
        point = float(metrics[o.name])
        lo, hi = (float(metrics[lo_name]), float(metrics[hi_name])) if lo_name in metrics and hi_name in metrics \
            else (point, point)
        a, b = o.to_min(min(lo, point)), o.to_min(max(hi, point))
        low.append(min(a, b))
        high.append(max(a, b))
    return np.array(low), np.array(high)


def non_finite(names: tuple[str, ...] | list[str], metrics: Mapping[str, float]) -> list[str]:
    """Those of ``names`` whose value in ``metrics`` is missing, NaN or infinite."""
    return [n for n in names if n not in metrics or not math.isfinite(float(metrics[n]))]


@dataclass(frozen=True)
class Constraint:
    """``name <= upper`` and/or ``name >= lower`` on a metric."""

    name: str
    upper: float | None = None
    lower: float | None = None

    def __post_init__(self) -> None:
        if self.upper is None and self.lower is None:
            raise UserError(f"constraint on {self.name!r} needs an upper or a lower bound")
        if self.upper is not None and self.lower is not None and self.lower > self.upper:
            raise UserError(f"constraint on {self.name!r}: lower bound {self.lower} exceeds upper bound {self.upper}")

    def violation(self, metrics: Mapping[str, float]) -> float:
        """How far ``metrics`` lies outside the bound (0 when satisfied)."""
        value = float(metrics[self.name])
        over = value - self.upper if self.upper is not None else 0.0
        under = self.lower - value if self.lower is not None else 0.0
        return max(0.0, over, under)

    def __str__(self) -> str:
        parts = [f"{self.name} <= {self.upper:g}"] if self.upper is not None else []
        parts += [f"{self.name} >= {self.lower:g}"] if self.lower is not None else []
        return " and ".join(parts)

    @classmethod
    def parse(cls, text: str) -> "Constraint":
        """Parse 'latency_ms<=25' or 'accuracy>=0.9'."""
        m = re.fullmatch(r"\s*([A-Za-z_][\w]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*", text)
        if m is None:
            raise UserError(f"malformed constraint {text!r}: expected e.g. 'latency_ms<=25'")
        try:
            value = float(m.group(3))
        except ValueError:
            raise UserError(f"malformed constraint {text!r}: {m.group(3)!r} is not a number") from None
        return cls(m.group(1), upper=value) if m.group(2) == "<=" else cls(m.group(1), lower=value)


def check_against_table(constraints: "Sequence[Constraint]", columns: Mapping[str, np.ndarray]) -> None:
    """Raise :class:`UserError` unless some row of an exhaustive metric table meets every constraint.

    ``columns`` maps each metric name to its value for every genome of the space (a complete
    benchmark table), so the check is exact.
    """
    ok = None
    for c in constraints:
        column = np.asarray(columns[c.name], float)
        satisfied = np.ones(len(column), bool)
        if c.upper is not None:
            satisfied &= column <= c.upper
        if c.lower is not None:
            satisfied &= column >= c.lower
        if not satisfied.any():
            closest = column.min() if c.upper is not None else column.max()
            extreme = "smallest" if c.upper is not None else "largest"
            raise UserError(f"{c} is infeasible: the {extreme} {c.name} in the space is {closest:.4g}")
        ok = satisfied if ok is None else ok & satisfied
    if ok is not None and not ok.any():
        raise UserError(f"constraints {' and '.join(map(str, constraints))} cannot all hold for any genome of the space")
