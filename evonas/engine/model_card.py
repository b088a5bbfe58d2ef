"""The model card (``MODEL_CARD.md``) of a deployment bundle, and the interface shared with the manifest."""

from __future__ import annotations

from typing import Any

from hardware.onnx_io import BATCH_AXIS, INPUT_NAME, OPSET, OUTPUT_NAME


def interface(ctx) -> dict[str, Any]:
    """Input, output, preprocessing and dataset of an export (an :class:`~evonas.engine.export.ExportContext`),
    as the manifest stores them and the card describes them."""
    c, h, w = ctx.plan.input_shape
    names = None if ctx.train is None else ctx.train.class_names
    norm = None if ctx.train is None else ctx.train.normalisation
    return {
        "input": {"name": INPUT_NAME, "dtype": "float32", "shape": [BATCH_AXIS, c, h, w], "layout": "NCHW"},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [BATCH_AXIS, ctx.plan.num_classes],
                   "meaning": f"logits (unnormalised scores) over {ctx.plan.num_classes} classes: softmax gives "
                              "probabilities, argmax the class id",
                   "class_names": None if names is None else list(names)},
        "preprocessing": None if norm is None else {
            "formula": "x[:, c] = (raw[:, c] - mean[c]) / std[c]", "mean": list(norm.mean), "std": list(norm.std),
            "raw_dtype": norm.raw_dtype, "raw_range": list(norm.raw_range), "raw_shape": list(ctx.raw_shape),
            "resize": None if tuple(ctx.raw_shape) == tuple(ctx.plan.input_shape) else {
                "to": [h, w], "mode": "bilinear", "align_corners": False,
                "antialias": h < ctx.raw_shape[1] or w < ctx.raw_shape[2]}},
        "dataset": _dataset(ctx),
    }


def _dataset(ctx) -> dict[str, Any]:
    if ctx.train is None:
        return {"note": ctx.plan.dataset_note}
    return {"name": ctx.train.name, "data": ctx.data, "val_fraction": ctx.val_fraction, "split_seed": ctx.plan.seed,
            "train_size": len(ctx.train), "val_size": len(ctx.val)}


def render_card(ctx, m) -> str:
    """``MODEL_CARD.md`` of exported model ``m`` (an :class:`~evonas.engine.export.ExportedModel`)."""
    sections = [_header(ctx, m), _io(ctx), _preprocessing(ctx), _accuracy(ctx, m), _objectives(ctx, m),
                _cost(ctx, m), _lineage(m), _reproduce(m)]
    return "\n\n".join(s for s in sections if s) + "\n"


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _header(ctx, m) -> str:
    front = "on the run's Pareto front" if m.on_front else "not on the run's Pareto front (selected by id)"
    files = [f"- `model.onnx`: float32, ONNX opset {OPSET}, {m.size_bytes} bytes"]
    if m.int8 is not None:
        files.append(f"- `model.int8.onnx`: int8 (static, QDQ, per-channel 7-bit weights), {m.int8.size_bytes} bytes")
    return "\n".join([f"# Candidate {m.candidate_id} of run `{ctx.run_dir.name}`", "",
                      f"A MobileNetV3-like image classifier found by evonas, {front}.", "",
                      f"Genome: `{m.genome}`", "", *files])


def _io(ctx) -> str:
    io = interface(ctx)
    i, o = io["input"], io["output"]
    lines = ["## Inputs and outputs", "",
             _table(["", "name", "shape", "dtype", "layout"],
                    [["input", f"`{i['name']}`", _shape(i["shape"]), i["dtype"], i["layout"]],
                     ["output", f"`{o['name']}`", _shape(o["shape"]), o["dtype"], "-"]]),
             "", f"Axis 0 (`{BATCH_AXIS}`) is dynamic: any batch size runs. The output holds {o['meaning']}."]
    if o["class_names"] is not None:
        lines += ["", "Class labels (output index: label): "
                  + ", ".join(f"{k}: `{name}`" for k, name in enumerate(o["class_names"])) + "."]
    return "\n".join(lines)


def _shape(shape: list) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _preprocessing(ctx) -> str:
    pre = interface(ctx)["preprocessing"]
    if pre is None:
        return "## Preprocessing\n\nUnknown: " + ctx.plan.dataset_note + ". Feed inputs prepared as in training."
    c, h, w = pre["raw_shape"]
    low, high = pre["raw_range"]
    rows = [[str(k), repr(mean), repr(std)] for k, (mean, std) in enumerate(zip(pre["mean"], pre["std"]))]
    lines = [
        "## Preprocessing", "",
        f"Raw pixels: {c} channel(s) of {h}x{w}, dtype {pre['raw_dtype']}, values in [{_fmt(low)}, {_fmt(high)}] "
        f"(dataset `{ctx.train.name}`). Normalise each channel with the constants of the training data:", "",
        f"    {pre['formula']}", "",
        _table(["channel", "mean (raw units)", "std (raw units)"], rows), "",
        "In numpy: `x = ((raw.astype('float64') - mean[None, :, None, None]) / std[None, :, None, None])"
        ".astype('float32')` with `raw` shaped (N, C, H, W)."]
    resize = pre["resize"]
    if resize is not None:
        lines += ["", f"Then resize to {resize['to'][0]}x{resize['to'][1]}, as the search did: "
                  f"`torch.nn.functional.interpolate(x, size={tuple(resize['to'])}, mode='bilinear', "
                  f"align_corners=False, antialias={resize['antialias']})` (bilinear weights sum to one, so "
                  "resizing before or after the normalisation gives the same input)."]
    return "\n".join(lines)


def _accuracy(ctx, m) -> str:
    rows = [["search (torch, after training)", _fmt(m.accuracy_search)]]
    if m.accuracy_onnx is not None:
        rows.append(["`model.onnx` in ONNX Runtime", _fmt(m.accuracy_onnx)])
    if m.int8 is not None:
        rows.append(["`model.int8.onnx` in ONNX Runtime", _fmt(m.int8.accuracy)])
    data = interface(ctx)["dataset"]
    where = (f"the validation split of `{data['name']}` ({data['val_size']} images; val_fraction "
             f"{data['val_fraction']}, split seed {data['split_seed']}, the search's split)"
             if ctx.val is not None else f"the search's validation split (not re-measured: {ctx.plan.dataset_note})")
    return "\n".join(["## Accuracy", "", f"Top-1 accuracy on {where}.", "", _table(["measured", "accuracy"], rows)])


def _objectives(ctx, m) -> str:
    rows = [[o.name, o.direction.name.lower(), o.unit or "(none)", _fmt(m.objectives[o.name], 6)]
            for o in ctx.plan.objectives]
    return "\n".join(["## Objectives (as measured in the search)", "",
                      _table(["objective", "direction", "unit", "value"], rows)])


def _cost(ctx, m) -> str:
    lat = m.latency
    lines = ["## Cost", "", f"- parameters: {_fmt(m.params)}", f"- FLOPs: {_fmt(m.flops)}",
             f"- `model.onnx`: {m.size_bytes} bytes",
             f"- latency (batch 1) of `{lat.measured_on or 'model.onnx'}` on target `{lat.target}`: {lat.text()}"]
    if lat.median_ms is not None:
        lines += [f"  - measured on: {lat.where}"
                  + (", drift-compensated against the calibrated reference network" if lat.compensated else ""),
                  f"  - interval: [{_fmt(lat.interval_ms[0])}, {_fmt(lat.interval_ms[1])}] ms; flags: "
                  + (", ".join(lat.flags) or "none")]
    if ctx.target_note and ctx.target is not None:
        lines.append(f"  - target {ctx.target_note}")
    if m.int8 is not None:
        side = m.int8.latency.median_ms is not None and lat.median_ms is not None
        lines += ["", "### float32 vs int8" + (" (latencies measured side by side, interleaved)" if side else ""), "",
                  _table(["model", "accuracy", "latency median [IQR]", "file size"],
                         [["`model.onnx`", _fmt(m.accuracy_onnx), lat.text(), f"{m.size_bytes} bytes"],
                          ["`model.int8.onnx`", _fmt(m.int8.accuracy), m.int8.latency.text(),
                           f"{m.int8.size_bytes} bytes"]]),
                  "", f"Calibrated on {m.int8.calibration_samples} training images (seeded sample); quantised "
                  f"operators: {', '.join(m.int8.quantized_ops)}."]
    return "\n".join(lines)


def _lineage(m) -> str:
    if m.parent_id is None:
        return "## Lineage\n\nSampled (no parent)" + (f", operator `{m.operator}`." if m.operator else ".")
    return f"## Lineage\n\nChild of candidate {m.parent_id} by operator `{m.operator}`."


def _reproduce(m) -> str:
    search = m.commands.get("search")
    lines = ["## Reproduce", ""]
    if search is None:
        lines += ["The run was made through the Python API; it stores no command line to re-create it.", ""]
    else:
        lines += ["Re-create the run (from its stored spec; with measured latency, timing noise can steer "
                  "the search differently, so the same genomes are not guaranteed):", "", "```sh", search, "```", ""]
    return "\n".join(lines + ["Re-create this bundle:", "", "```sh", m.commands["export"], "```"])
