"""The run configuration: CLI flags parsed once into a frozen dataclass, stored with the run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from evonas.errors import UserError
from evonas.objectives import Constraint


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search run (see ``evonas search --help``).

    Attributes mirror the CLI flags; ``data=None`` means the embedded default dataset.
    """

    space: str = "mobilenet"
    target: str = "edge-cpu"
    strategy: str = "aging"
    evaluations: int = 40
    epochs: float = 4
    seed: int = 0
    data: str | None = None
    device: str = "cpu"
    cost: str = "latency_ms"
    population: int = 12
    sample_size: int = 4
    val_fraction: float = 0.2
    batch_size: int = 64
    lr: float = 5e-3
    constraints: tuple[str, ...] = ()
    init: tuple[str, ...] = ()
    time_limit: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.evaluations < 1:
            raise UserError(f"--evaluations must be at least 1, got {self.evaluations}")
        if self.epochs <= 0:
            raise UserError(f"--epochs must be positive, got {self.epochs}")
        if not 0 < self.val_fraction < 1:
            raise UserError(f"--val-fraction must lie strictly between 0 and 1, got {self.val_fraction}")
        if self.population < 2 or not 2 <= self.sample_size <= self.population:
            raise UserError("--population must be at least 2 and --sample-size between 2 and the population")
        for text in self.constraints:
            Constraint.parse(text)

    def parsed_constraints(self) -> tuple[Constraint, ...]:
        return tuple(Constraint.parse(c) for c in self.constraints)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["constraints"] = list(self.constraints)
        out["init"] = list(self.init)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SearchConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["constraints"] = tuple(values.get("constraints", ()))
        values["init"] = tuple(values.get("init", ()))
        return cls(**values)
