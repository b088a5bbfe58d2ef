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
    evaluations: int = 32
    epochs: float = 3
    seed: int = 0
    data: str | None = None
    device: str = "cpu"
    cost: str = "latency_ms"
    population: int = 10
    sample_size: int = 3
    val_fraction: float = 0.2
    batch_size: int = 64
    lr: float = 5e-3
    constraints: tuple[str, ...] = ()
    init: tuple[str, ...] = ()
    time_limit: float | None = None
    n_pc: int = 8
    n_ac: int = 2
    n_init: int = 4
    cheap: str = "params,flops"
    inherit_epochs: float = 1.0
    table: str | None = None
    cost_table: str | None = None
    accuracy_column: str = "c10_test_acc_200ep_mean"
    cost_column: str = "hwnb_fpga_lat_ms_c10"
    data_dir: str | None = None
    max_latency: float | None = None
    latency: str = "measured"
    lut: str | None = None
    force_lut: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.latency not in ("measured", "predicted"):
            raise UserError(f"--latency must be 'measured' or 'predicted', got {self.latency!r}")
        if self.latency == "predicted" and self.lut is None:
            raise UserError("--latency predicted needs --lut FILE; build one with 'evonas profile build-lut "
                            "--target T --input-shape C,H,W --num-classes K --out FILE' (the dataset's shape and classes)")
        if self.evaluations < 1:
            raise UserError(f"--evaluations must be at least 1, got {self.evaluations}")
        if self.max_latency is not None and self.max_latency <= 0:
            raise UserError(f"--max-latency must be positive, got {self.max_latency}")
        if self.epochs <= 0:
            raise UserError(f"--epochs must be positive, got {self.epochs}")
        if not 0 < self.val_fraction < 1:
            raise UserError(f"--val-fraction must lie strictly between 0 and 1, got {self.val_fraction}")
        if self.population < 2 or not 2 <= self.sample_size <= self.population:
            raise UserError("--population must be at least 2 and --sample-size between 2 and the population")
        for text in self.constraints:
            Constraint.parse(text)
        if not 1 <= self.n_ac <= self.n_pc or self.n_init < 1:
            raise UserError("--n-ac must be between 1 and --n-pc, and --n-init at least 1")
        if self.inherit_epochs < 0:
            raise UserError(f"--inherit-epochs must be 0 (no inheritance) or positive, got {self.inherit_epochs}")
        unknown = set(self.cheap_objectives()) - {"params", "flops", "latency_ms"}
        if unknown or not self.cheap_objectives():
            raise UserError(f"--cheap must list params, flops and/or latency_ms, got {self.cheap!r}")

    def cheap_objectives(self) -> tuple[str, ...]:
        """``cheap`` ('params,flops') as a tuple of metric names."""
        return tuple(n.strip() for n in self.cheap.split(",") if n.strip())

    def parsed_constraints(self) -> tuple[Constraint, ...]:
        return tuple(Constraint.parse(c) for c in self.constraints)

    def latency_constraint(self, cost_name: str) -> tuple[Constraint, ...]:
        """``--max-latency`` as a bound on the problem's cost metric ``cost_name`` (none if unset)."""
        return () if self.max_latency is None else (Constraint(cost_name, upper=self.max_latency),)

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
