"""Objectives carry their direction in their type; constraints bound a metric."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from evonas.errors import UserError


class Direction(enum.Enum):
    """Whether an objective is minimised or maximised; the value is the sign to minimise it."""

    MINIMIZE = 1.0
    MAXIMIZE = -1.0


@dataclass(frozen=True)
class Objective:
    """A named metric with a direction (``Objective.minimize("latency_ms")``)."""

    name: str
    direction: Direction
    unit: str = ""

    @classmethod
    def minimize(cls, name: str, unit: str = "") -> "Objective":
        return cls(name, Direction.MINIMIZE, unit)

    @classmethod
    def maximize(cls, name: str, unit: str = "") -> "Objective":
        return cls(name, Direction.MAXIMIZE, unit)

    def to_min(self, value: float) -> float:
        """``value`` in minimisation form (maximised objectives are negated)."""
        return self.direction.value * value


def to_min_vector(objectives: tuple[Objective, ...], metrics: Mapping[str, float]) -> np.ndarray:
    """The metrics of ``objectives`` as one minimisation-form vector."""
    return np.array([o.to_min(float(metrics[o.name])) for o in objectives])


@dataclass(frozen=True)
class Constraint:
    """``name <= upper`` and/or ``name >= lower`` on a metric."""

    name: str
    upper: float | None = None
    lower: float | None = None

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
        value = float(m.group(3))
        return cls(m.group(1), upper=value) if m.group(2) == "<=" else cls(m.group(1), lower=value)
