"""Deployment bundles: chosen candidates of a run as checked ONNX files, model cards and a manifest.

``export_front(run, plan, out_dir)`` writes, for every Pareto-front member of a
:class:`~evonas.engine.results.StoredRun` (or the candidates given as ``select``), with what
an :class:`ExportPlan` says of how the run was made::

    out_dir/
      manifest.json              every bundle below, machine-readable
      candidate_<id>/
        model.onnx               float32, dynamic batch axis, checked, parity with torch at batch 1 and 8
        model.int8.onnx          (quantize="int8") static QDQ int8, calibrated on training images
        MODEL_CARD.md            inputs, outputs, preprocessing, accuracy, objectives, cost, lineage, commands

Everything is built in a temporary directory next to ``out_dir`` and renamed into place at
the end: on any failure (checker, parity, quantisation, a damaged weights file, Ctrl-C) the
temporary directory is removed and ``out_dir`` is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import onnx
import onnxruntime as ort
import torch

from evonas.core.errors import UserError
from evonas.core.objectives import Objective
from evonas.engine.results import StoredRun, StoredTrial
from evonas.engine.store import load_weights, weights_path
from evonas.mobilenet.builder import build
from evonas.mobilenet.data import Dataset, load_dataset
from evonas.mobilenet.space import MobileNetSpace, SpaceConfig
from hardware.onnx_io import INPUT_NAME, OPSET, to_onnx

PARITY_TOLERANCE = 1e-4
PARITY_BATCHES = (1, 8)
CALIBRATION_SAMPLES = 256
CALIBRATION_STREAM = 1
"""Calibration images are drawn with ``default_rng([run seed, CALIBRATION_STREAM])``."""
EVAL_BATCH = 256
QUANTIZATIONS = ("int8",)
MANIFEST = "manifest.json"
CARD = "MODEL_CARD.md"
FLOAT_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"


class ExportError(UserError):
    """A network failed the ONNX checker, the parity check or quantisation."""


@dataclass(frozen=True)
class LatencyReport:
    """A latency measured for a bundle on the run's target, or why it was not.

    Attributes:
        target: the target's name (e.g. ``onnx-cpu``).
        where: the target's one-line definition (runtime, threads, batch).
        measured_on: what ran: the bundle's file (``model.onnx``), or ``torch module`` for a target
            that runs torch networks; ``None`` when not measured.
        median_ms: the latency, batch 1 (drift-compensated where the target compensates).
        iqr_ms: its interquartile range.
        interval_ms: the (low, high) interval noise-aware comparisons use.
        flags: what made the measurement untrustworthy (empty when nothing did).
        compensated: timed against the calibrated reference network.
        not_measured: why there is no latency (``None`` when there is).
    """

    target: str
    where: str = ""
    measured_on: str | None = None
    median_ms: float | None = None
    iqr_ms: float | None = None
    interval_ms: tuple[float, float] | None = None
    flags: tuple[str, ...] = ()
    compensated: bool = False
    not_measured: str | None = None

    @classmethod
    def of(cls, target, measurement, measured_on: str) -> "LatencyReport":
        """A report of ``measurement`` (a :class:`~hardware.targets.LatencyMeasurement`) taken on ``target``."""
        return cls(target.name, target.description, measured_on, measurement.median_ms, measurement.iqr_ms,
                   measurement.interval, tuple(measurement.flags), measurement.reference is not None)

    def text(self) -> str:
        """``median [IQR]`` in ms and the kinds of any flags, or ``not measured: <reason>``."""
        if self.median_ms is None:
            return f"not measured: {self.not_measured}"
        flagged = ", ".join(dict.fromkeys(f.split(":")[0] for f in self.flags))
        return f"{self.median_ms:.4g} ms [IQR {self.iqr_ms:.2g}]" + (f" (flagged: {flagged})" if flagged else "")


@dataclass(frozen=True)
class QuantizedModel:
    """The int8 version of a bundle's network.

    Attributes:
        file: its path relative to the export directory.
        size_bytes: the file's size.
        accuracy: accuracy of the int8 file on the validation split.
        latency: measured side by side with the float file.
        quantized_ops: the quantisation operators its graph holds.
        calibration_samples: training images its activation ranges were calibrated on.
    """

    file: str
    size_bytes: int
    accuracy: float
    latency: LatencyReport
    quantized_ops: tuple[str, ...]
    calibration_samples: int


@dataclass(frozen=True)
class ExportedModel:
    """One exported candidate (one bundle folder).

    Attributes:
        candidate_id: the candidate's id in the run.
        genome: its genome string.
        dir: the bundle folder, relative to the export directory.
        file: the float ONNX file, relative to the export directory.
        on_front: whether it is on the run's Pareto front.
        parent_id, operator: its lineage (``None`` / ``""`` for a sampled candidate).
        objectives: every objective of the run, name -> value as measured in the search.
        units: name -> unit of each objective ('' for a unitless one).
        params, flops: the network's size and cost (FLOPs ``None`` where the run kept none).
        size_bytes: the float file's size.
        accuracy_search: validation accuracy measured in the search.
        accuracy_onnx: accuracy of the float file on the same validation split (``None`` when the
            run's dataset is unknown).
        max_abs_diff: the largest |ONNX Runtime - torch| over the parity batches.
        parity: batch size -> max |ONNX Runtime - torch|.
        latency: the float file's latency on the run's target.
        int8: the quantised model (``None`` without ``quantize``).
        commands: ``search`` (re-creates the run; ``None`` for a run made through the Python API)
            and ``export`` (re-creates this bundle).
    """

    candidate_id: int
    genome: str
    dir: str
    file: str
    on_front: bool
    parent_id: int | None
    operator: str
    objectives: dict[str, float]
    units: dict[str, str]
    params: float | None
    flops: float | None
    size_bytes: int
    accuracy_search: float | None
    accuracy_onnx: float | None
    max_abs_diff: float
    parity: dict[int, float]
    latency: LatencyReport
    int8: QuantizedModel | None
    commands: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetPlan:
    """The dataset a run trained on, as its problem loaded it (every option resolved).

    Attributes:
        data: the dataset's path as the run stored it (``None``: the embedded digits).
        resolution: the side the images were resized to (``None``: as loaded).
        val_fraction: the validation share of the split.
    """

    data: str | None
    resolution: int | None
    val_fraction: float


@dataclass(frozen=True)
class ExportPlan:
    """What exporting a run needs to know about how it was made; built by the API layer
    (:func:`evonas.api.spec.export_plan`) from the run's stored spec, so this module never
    reads a stored configuration's keys.

    Attributes:
        space_config: the MobileNetV3-like space the run searched.
        input_shape: one input (C, H, W) as the networks saw it.
        num_classes: the networks' outputs.
        objectives: the run's objectives.
        seed: the run seed (split and calibration sample).
        dataset: the run's dataset, or ``None`` when unknown (then ``dataset_note`` says why).
        dataset_note: why the dataset is unknown ('' when known).
        target: the name of the run's latency target (``None``: it measured none).
        target_options: the target's options as the run gave them.
        target_note: how the target is rebuilt, or why there is none.
        search_args: the ``evonas search`` flags that re-create the run (``None``: not a CLI run).
        front_fidelity: under a multi-fidelity schedule, the fidelity the front was taken at (the
            highest reached; lower rungs left out); ``None`` without a schedule.
    """

    space_config: SpaceConfig
    input_shape: tuple[int, int, int]
    num_classes: int
    objectives: tuple[Objective, ...]
    seed: int
    dataset: DatasetPlan | None
    dataset_note: str = ""
    target: str | None = None
    target_options: dict[str, Any] = field(default_factory=dict)
    target_note: str = "the run measured no latency on any target"
    search_args: tuple[str, ...] | None = None
    front_fidelity: float | None = None


@dataclass(frozen=True)
class ExportContext:
    """What every bundle of one export shares.

    Attributes:
        plan: what the API layer read from the run (shape, classes, objectives, seed, dataset,
            target, the reproducing flags).
        run_dir: the run exported.
        out_dir: the export directory (its final name).
        train, val: the run's training and validation split, re-made from its stored options
            (``None`` for a run whose dataset is unknown).
        raw_shape: one image (C, H, W) as loaded, before the search resized it to ``input_shape``
            (``None`` when the dataset is unknown).
        data: the dataset's path as the run stored it (``None``: the embedded digits).
        val_fraction: the validation share of the split.
        target: the run's target, or ``None`` when it cannot run here.
        target_note: why there is no target, or how it was rebuilt.
        quantize: ``"int8"`` or ``None``.
    """

    plan: ExportPlan
    run_dir: Path
    out_dir: Path
    train: Dataset | None
    val: Dataset | None
    raw_shape: tuple[int, int, int] | None
    data: str | None
    val_fraction: float | None
    target: Any
    target_note: str
    quantize: str | None


def check_parity(model: torch.nn.Module, onnx_bytes: bytes, input_shape: tuple[int, int, int],
                 batches: Sequence[int] = PARITY_BATCHES, seed: int = 0) -> dict[int, float]:
    """Batch size -> max abs difference between torch and ONNX Runtime (CPU) on a seeded random batch."""
    model.eval()
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for n in batches:
        x = torch.randn(n, *input_shape, generator=gen)
        with torch.no_grad():
            expected = model(x).numpy()
        out[n] = float(np.abs(sess.run(None, {INPUT_NAME: x.numpy()})[0] - expected).max())
    return out


def onnx_accuracy(onnx_bytes: bytes, data: Dataset) -> float:
    """Top-1 accuracy of an ONNX model on ``data`` in ONNX Runtime (CPU), in batches of :data:`EVAL_BATCH`."""
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    correct = 0
    for i in range(0, len(data), EVAL_BATCH):
        logits = sess.run(None, {INPUT_NAME: data.x[i:i + EVAL_BATCH]})[0]
        correct += int((logits.argmax(axis=1) == data.y[i:i + EVAL_BATCH]).sum())
    return correct / len(data)


def calibration_sample(train: Dataset, seed: int, n: int = CALIBRATION_SAMPLES) -> np.ndarray:
    """``n`` training images (all, if fewer) drawn without replacement from ``default_rng([seed, CALIBRATION_STREAM])``."""
    rng = np.random.default_rng([seed, CALIBRATION_STREAM])
    idx = np.sort(rng.choice(len(train), size=min(n, len(train)), replace=False))
    return train.x[idx]


def export_front(run: StoredRun, plan: ExportPlan, out_dir: str | Path, select: Sequence[int] | None = None,
                 quantize: str | None = None) -> list[ExportedModel]:
    """Write a deployment bundle per front member (or per ``select``-ed candidate) of ``run`` into ``out_dir``.

    Most callers want :func:`evonas.api.spec.export_run`, which reads the run and builds its plan.

    Args:
        run: a stored run of the mobilenet problem (trained weights).
        plan: how the run was made (:func:`evonas.api.spec.export_plan`).
        out_dir: the export directory; it must not exist or be empty. It appears complete or not at all.
        select: candidate ids to export instead of the front: any successful candidate whose weights
            the run kept (by default a run keeps only front members' weights).
        quantize: ``"int8"`` adds a statically quantised model, compared side by side with the float one.

    Returns:
        One :class:`ExportedModel` per bundle, in the order exported.

    Raises:
        UserError: ``out_dir`` is not empty, an id is not a successful candidate with weights, or the
            run's dataset cannot be reloaded.
        ExportError: a network fails the ONNX checker, parity or quantisation.
    """
    out_dir = Path(out_dir)
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise UserError(f"unknown quantization {quantize!r}; choose one of: {', '.join(QUANTIZATIONS)}")
    _check_empty(out_dir)
    space = MobileNetSpace(plan.space_config)
    run = run.parsed(space)
    chosen, front_ids = _chosen(run, select)
    ctx = _context(plan, run.run_dir, out_dir, quantize)
    with _staging(out_dir) as tmp:
        exported = [_bundle(ctx, space, t, t.id in front_ids, tmp) for t in chosen]
        (tmp / MANIFEST).write_text(manifest_json(ctx, exported))
    return exported


def _check_empty(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"'{out_dir}' exists and is not a directory; choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise UserError(f"'{out_dir}' exists and is not empty; choose another --out (nothing was written)")


def _chosen(run: StoredRun, select: Sequence[int] | None) -> tuple[list[StoredTrial], set[int]]:
    """The trials to export and the ids on the front; every selected id checked before anything is built."""
    front = list(run.front)
    front_ids = {t.id for t in front}
    if select is None:
        if not front:
            raise UserError(f"run '{run.run_dir}' has no successful candidate to export")
        return front, front_ids
    ok = {t.id: t for t in run.trials if t.ok}
    chosen = []
    for cid in dict.fromkeys(select):
        if cid not in ok:
            raise UserError(f"--select {cid}: not a successful candidate of run '{run.run_dir}' "
                            f"(successful: {_ranges(sorted(ok)) or 'none'})")
        if not weights_path(run.run_dir, cid).is_file():
            raise UserError(f"--select {cid}: run '{run.run_dir}' kept no weights for it (a search keeps only "
                            "the weights of its front members)")
        chosen.append(next((t for t in front if t.id == cid), ok[cid]))
    return chosen, front_ids


def _ranges(ids: list[int]) -> str:
    """``0-3, 5`` for [0, 1, 2, 3, 5]."""
    parts, start = [], None
    for i, cid in enumerate(ids):
        start = cid if start is None else start
        if i + 1 == len(ids) or ids[i + 1] != cid + 1:
            parts.append(str(cid) if start == cid else f"{start}-{cid}")
            start = None
    return ", ".join(parts)


def _context(plan: ExportPlan, run_dir: Path, out_dir: Path, quantize: str | None) -> ExportContext:
    """The shared context: the run's split re-made from its plan, and its target rebuilt."""
    train = val = raw_shape = None
    if plan.dataset is not None:
        train, val, raw_shape = _splits(plan.dataset, plan.seed, plan.input_shape, plan.num_classes)
    if quantize and train is None:
        raise UserError(f"--quantize {quantize} calibrates on the run's training images, but {plan.dataset_note}")
    target, target_note = _target(plan)
    dataset = plan.dataset
    return ExportContext(plan, run_dir, out_dir, train, val, raw_shape, None if dataset is None else dataset.data,
                         None if dataset is None else dataset.val_fraction, target, target_note, quantize)


def _splits(dataset: DatasetPlan, seed: int, input_shape: tuple, num_classes: int
            ) -> tuple[Dataset, Dataset, tuple[int, int, int]]:
    """The search's training and validation split (the same data, resolution, fraction and seed),
    and the shape of one image as loaded."""
    from evonas.mobilenet.problem import presented

    loaded = load_dataset(dataset.data)
    presented_data = presented(loaded, dataset.resolution, embedded=dataset.data is None)
    if presented_data.input_shape != input_shape or presented_data.num_classes != num_classes:
        raise UserError(f"the run's dataset ({dataset.data or 'embedded digits'}) now holds "
                        f"{presented_data.input_shape} images of {presented_data.num_classes} classes, but the run "
                        f"trained on {input_shape} and {num_classes}: it changed since the search")
    return (*presented_data.split(dataset.val_fraction, seed), loaded.input_shape)


def _target(plan: ExportPlan) -> tuple[Any, str]:
    """The run's target rebuilt here, or (None, why not)."""
    from hardware.registry import get_target

    if plan.target is None:
        return None, plan.target_note
    try:
        return get_target(plan.target, **plan.target_options), plan.target_note
    except UserError as exc:  # e.g. a GPU target on a machine without one: export without a latency
        return None, f"target '{plan.target}' cannot run here ({exc})"


@contextlib.contextmanager
def _staging(out_dir: Path) -> Iterator[Path]:
    """A temporary directory next to ``out_dir``, renamed to ``out_dir`` when the block succeeds.

    On any exception (Ctrl-C included) the temporary directory and any parent directories
    made for it are removed, and the exception propagates.
    """
    out_dir = out_dir.absolute()
    made = [p for p in [out_dir.parent, *out_dir.parent.parents] if not p.exists()]
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the export is an ordinary directory
        try:
            os.rename(tmp, out_dir)  # atomic; replaces an empty directory, fails on a non-empty one
        except OSError as exc:
            raise UserError(f"cannot move the finished export into '{out_dir}': {exc.strerror}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for parent in made:  # innermost first; a parent something else wrote into stays
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise


def _bundle(ctx: ExportContext, space: MobileNetSpace, row: StoredTrial, on_front: bool,
            tmp: Path) -> ExportedModel:
    """Build, check, (quantise,) measure and describe one candidate in ``tmp/candidate_<id>``."""
    from evonas.engine.model_card import render_card

    folder = f"candidate_{row.id}"
    (tmp / folder).mkdir()
    model = build(row.genome, space.config, ctx.plan.input_shape, ctx.plan.num_classes)
    model.load_state_dict(load_weights(ctx.run_dir, row.id))
    model.eval()
    float_bytes = _checked_export(model, row.id, ctx.plan.input_shape)
    parity = check_parity(model, float_bytes, ctx.plan.input_shape)
    diff = max(parity.values())
    if not diff <= PARITY_TOLERANCE:
        raise ExportError(f"candidate {row.id}: ONNX Runtime differs from torch by {diff:.3g} "
                          f"(> {PARITY_TOLERANCE:g}) at batch sizes {sorted(parity)}")
    (tmp / folder / FLOAT_FILE).write_bytes(float_bytes)
    int8_bytes = _quantized(float_bytes, ctx, row.id) if ctx.quantize else None
    if int8_bytes is not None:
        (tmp / folder / INT8_FILE).write_bytes(int8_bytes)
    latencies = _latencies(ctx, model, [float_bytes] + ([int8_bytes] if int8_bytes else []))
    units = {o.name: o.unit for o in ctx.plan.objectives}
    exported = ExportedModel(
        row.id, str(row.genome), folder, f"{folder}/{FLOAT_FILE}", on_front, row.parent_id, row.operator,
        {o.name: row.metrics[o.name] for o in ctx.plan.objectives}, units, row.metrics.get("params"),
        row.metrics.get("flops"), len(float_bytes), row.metrics.get("accuracy"),
        None if ctx.val is None else onnx_accuracy(float_bytes, ctx.val), diff, parity, latencies[0],
        None if int8_bytes is None else _int8_model(ctx, folder, int8_bytes, latencies[1]),
        _commands(ctx, row.id))
    (tmp / folder / CARD).write_text(render_card(ctx, exported))
    return exported


def _checked_export(model: torch.nn.Module, cid: int, input_shape: tuple[int, int, int]) -> bytes:
    """The dynamic-batch ONNX export of ``model``, passed through the full ONNX checker."""
    onnx_bytes = to_onnx(model, input_shape, dynamic_batch=True)
    try:
        onnx.checker.check_model(onnx.load_from_string(onnx_bytes), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"candidate {cid} fails the ONNX checker: {exc}") from None
    return onnx_bytes


def _quantized(float_bytes: bytes, ctx: ExportContext, cid: int) -> bytes:
    """The int8 model of ``float_bytes``, checked to hold quantised operators and to pass the checker."""
    from hardware.quantize import quantize_int8, quantized_ops

    int8 = quantize_int8(float_bytes, calibration_sample(ctx.train, ctx.plan.seed))
    if not quantized_ops(int8):
        raise ExportError(f"candidate {cid}: quantisation left no quantised operator in the graph")
    try:
        onnx.checker.check_model(onnx.load_from_string(int8), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"candidate {cid}: the int8 model fails the ONNX checker: {exc}") from None
    return int8


def _int8_model(ctx: ExportContext, folder: str, int8_bytes: bytes, latency: LatencyReport) -> QuantizedModel:
    from hardware.quantize import quantized_ops

    return QuantizedModel(f"{folder}/{INT8_FILE}", len(int8_bytes), onnx_accuracy(int8_bytes, ctx.val), latency,
                          tuple(sorted(quantized_ops(int8_bytes))), min(CALIBRATION_SAMPLES, len(ctx.train)))


def _latencies(ctx: ExportContext, model: torch.nn.Module, files: list[bytes]) -> list[LatencyReport]:
    """Latency of each file on the run's target, the files interleaved in the same time windows.

    An ONNX Runtime target runs the files themselves; a target that runs torch networks (``cpu``)
    times the torch network the float file was exported from, and cannot time the int8 file;
    a target that refuses (no GPU here) leaves every latency ``not measured`` with its reason.
    """
    target = ctx.target
    if target is None:
        return [LatencyReport("-", not_measured=ctx.target_note) for _ in files]
    try:
        if hasattr(target, "measure_onnx_side_by_side"):
            return [LatencyReport.of(target, m, f) for m, f in
                    zip(target.measure_onnx_side_by_side(files, ctx.plan.input_shape), (FLOAT_FILE, INT8_FILE))]
        first = LatencyReport.of(target, target.measure(model, ctx.plan.input_shape), "torch module")
    except UserError as exc:
        return [LatencyReport(target.name, target.description, not_measured=str(exc)) for _ in files]
    why = f"target '{target.name}' runs torch networks, not ONNX files"
    return [first] + [LatencyReport(target.name, target.description, not_measured=why) for _ in files[1:]]


def _commands(ctx: ExportContext, cid: int) -> dict[str, str | None]:
    """The commands that re-create the run and this bundle."""
    search = None
    if ctx.plan.search_args is not None:
        search = shlex.join(["evonas", "search", *ctx.plan.search_args, "--out", f"{ctx.run_dir}-reproduced"])
    export = ["evonas", "export", str(ctx.run_dir), "--out", f"{ctx.out_dir}-candidate_{cid}", "--select", str(cid)]
    if ctx.quantize:
        export += ["--quantize", ctx.quantize]
    return {"search": search, "export": shlex.join(export)}


def manifest_json(ctx: ExportContext, exported: Sequence[ExportedModel]) -> str:
    """The manifest: the shared interface (input, output, preprocessing, target) and every bundle."""
    import json

    from evonas.engine.model_card import interface

    manifest = {
        "run": str(ctx.run_dir),
        "input_shape": list(ctx.plan.input_shape),
        **interface(ctx),
        "opset": OPSET,
        "quantize": ctx.quantize,
        "target": {"name": getattr(ctx.target, "name", None), "note": ctx.target_note,
                   "settings": None if ctx.target is None else ctx.target.settings()},
        "objectives": [{"name": o.name, "direction": o.direction.name.lower(), "unit": o.unit}
                       for o in ctx.plan.objectives],
        "models": [asdict(e) for e in exported],
    }
    if ctx.plan.front_fidelity is not None:
        manifest["front_fidelity"] = ctx.plan.front_fidelity
        manifest["front_note"] = (f"the run's schedule trained candidates to several fidelities; its front holds "
                                  f"only those at {ctx.plan.front_fidelity:g} epochs, the highest reached")
    return json.dumps(manifest, indent=2, default=str)

