"""Export every Pareto-front member of a run as a checked ONNX file plus ``manifest.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from evonas.engine.results import stored_front, stored_objectives
from evonas.mobilenet.builder import build
from evonas.core.errors import UserError
from evonas.mobilenet.space import MobileNetSpace, SpaceConfig
from evonas.engine.store import RunStore
from hardware.onnx_io import to_onnx

PARITY_TOLERANCE = 1e-4


class ExportError(UserError):
    """A network failed the ONNX checker or the ONNX Runtime parity check."""


@dataclass(frozen=True)
class ExportedModel:
    """One exported front member."""

    candidate_id: int
    genome: str
    file: str
    objectives: dict[str, float]
    max_abs_diff: float


def space_of(store: RunStore) -> MobileNetSpace:
    """The MobileNetV3-like space a stored run searched."""
    raw = store.config.get("space_config")
    problem = store.config.get("problem", {})
    if raw is None or "input_shape" not in problem:
        raise UserError(f"run '{store.run_dir}' searched a {problem.get('problem', 'custom')} problem, not trained "
                        "MobileNet networks; it has no weights to export")
    return MobileNetSpace(SpaceConfig(**{k: _tuples(v) for k, v in raw.items()}))


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def check_parity(model: torch.nn.Module, onnx_bytes: bytes, input_shape: tuple[int, int, int],
                 seed: int = 0) -> float:
    """Max abs difference between torch and ONNX Runtime outputs on a seeded random input."""
    x = torch.randn(4, *input_shape, generator=torch.Generator().manual_seed(seed))
    model.eval()
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    with torch.no_grad():
        diffs = [np.abs(sess.run(None, {name: xi[None].numpy()})[0] - model(xi[None]).numpy()).max()
                 for xi in x]
    return float(max(diffs))


def export_front(run_dir: str | Path, out_dir: str | Path) -> list[ExportedModel]:
    """Write one ONNX file per front member of ``run_dir`` and a manifest into ``out_dir``.

    Every file must pass ``onnx.checker.check_model(full_check=True)`` and agree with torch
    to within :data:`PARITY_TOLERANCE`; any failure raises :class:`ExportError`.

    Raises:
        UserError: ``out_dir`` already holds an export, or the run has nothing to export.
    """
    out_dir = Path(out_dir)
    if (out_dir / "manifest.json").exists():
        raise UserError(f"'{out_dir}' already holds an export (manifest.json); choose another --out")
    with RunStore.open(run_dir) as store:
        space = space_of(store)
        problem = store.config["problem"]
        input_shape = tuple(problem["input_shape"])
        names = [o.name for o in stored_objectives(store)]
        front = stored_front(store)
        if not front:
            raise UserError(f"run '{run_dir}' has no successful candidate to export")
        models = []
        for row in front:
            model = build(space.parse(row.genome), space.config, input_shape, problem["num_classes"])
            model.load_state_dict(store.load_weights(row.id))
            models.append((row, model))
    out_dir.mkdir(parents=True, exist_ok=True)
    exported = [_export_one(row, model, input_shape, names, out_dir) for row, model in models]
    manifest = {
        "run": str(run_dir),
        "input_shape": list(input_shape),
        "input_name": "input",
        "output_name": "logits",
        "models": [e.__dict__ for e in exported],
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return exported


def _export_one(row, model, input_shape, names, out_dir: Path) -> ExportedModel:
    onnx_bytes = to_onnx(model, input_shape)
    try:
        onnx.checker.check_model(onnx.load_from_string(onnx_bytes), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"candidate {row.id} fails the ONNX checker: {exc}") from None
    diff = check_parity(model, onnx_bytes, input_shape)
    if not diff <= PARITY_TOLERANCE:
        raise ExportError(f"candidate {row.id}: ONNX Runtime differs from torch by {diff:.3g} "
                          f"(> {PARITY_TOLERANCE:g})")
    file = f"candidate_{row.id}.onnx"
    (out_dir / file).write_bytes(onnx_bytes)
    return ExportedModel(row.id, row.genome, file, {n: row.metrics[n] for n in names}, diff)
