"""``evonas profile``: measure networks on a target; ``evonas profile build-lut``: build a latency table.

``profile`` takes genome strings (or ``--random N --seed S``) as positionals, so the
``build-lut`` action is recognised as the first positional word rather than as an argparse
subcommand (which would swallow genome strings); the options each action accepts are
checked after parsing.
"""

from __future__ import annotations

import argparse
import json
import sys

from evonas.cli.plugin_flags import given_options
from evonas.core.errors import UserError

BUILD_LUT = "build-lut"
DEFAULT_SHAPE = "3,224,224"


def register(sub, argv: list[str]) -> None:
    p = sub.add_parser(
        "profile", help="measure params, FLOPs, latency and peak memory of networks (or: profile build-lut)",
        description="evonas profile GENOME... | --random N [--seed S]  [--target T] [--input-shape C,H,W] "
                    "[--format json|table] [--lut FILE]\n"
                    "evonas profile build-lut --target T --input-shape C,H,W --out FILE",
        usage="%(prog)s [build-lut] [GENOME ...] [options]", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("genomes", nargs="*", metavar="GENOME",
                   help="genome strings to profile; or the single word 'build-lut' to build a latency table")
    p.add_argument("--target", default="edge-cpu",
                   help="edge-cpu, onnx-cpu, cpu, gpu, onnx-gpu, or a user target 'module:factory' [default: edge-cpu]")
    p.add_argument("--input-shape", default=DEFAULT_SHAPE, help=f"network input C,H,W [default: {DEFAULT_SHAPE}]")
    p.add_argument("--num-classes", type=int, default=1000, help="classifier outputs [default: 1000]")
    prof = p.add_argument_group("profiling networks")
    prof.add_argument("--random", type=int, default=None, metavar="N", help="profile N random genomes of the space")
    prof.add_argument("--seed", type=int, default=0, help="seed of --random (and of build-lut's calibration sample)")
    prof.add_argument("--format", choices=["json", "table"], default="json",
                      help="json: one JSON object per line and network; table: aligned columns [default: json]")
    prof.add_argument("--lut", default=None, metavar="FILE", help="also report the table's predicted latency")
    prof.add_argument("--force-lut", action="store_true",
                      help="use a latency table built on another machine or library version")
    prof.add_argument("--no-memory", action="store_true", help="skip the peak-memory probe (a child process)")
    lut = p.add_argument_group("build-lut")
    lut.add_argument("--out", default=None, metavar="FILE", help="where to write the table (never overwritten)")
    lut.add_argument("--calibration", type=int, default=30,
                     help="random networks measured whole to fit the correction [default: 30]")
    lut.add_argument("--repeats", type=int, default=30, help="timed runs per table entry and pass [default: 30]")
    lut.add_argument("--passes", type=int, default=3,
                     help="times each entry is timed, spread over the build; the smallest median is kept [default: 3]")
    if argv[:1] == ["profile"]:  # the chosen target's own flags (e.g. --precision, --compensate)
        from evonas.api import registry
        from evonas.cli.plugin_flags import add_plugin_flags, peek

        target = peek(argv, "--target", "edge-cpu")
        add_plugin_flags(p, registry.target_factory(target), "target", f"options of --target {target}")
    p.set_defaults(func=run)


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """'C,H,W' -> (C, H, W) of positive integers.

    Raises:
        UserError: anything else.
    """
    parts = text.split(",")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise UserError(f"--input-shape must be three positive integers C,H,W (e.g. {DEFAULT_SHAPE}), got {text!r}")
    return shape  # type: ignore[return-value]


def run(args) -> int:
    if args.genomes[:1] == [BUILD_LUT]:
        return run_build_lut(args)
    return run_profile(args)


def _space_config(shape: tuple[int, int, int]):
    from evonas.mobilenet.space import SpaceConfig

    return SpaceConfig.for_resolution(min(shape[1:]))


def _networks(args, shape: tuple[int, int, int]) -> list:
    import numpy as np

    from evonas.mobilenet.space import MobileNetSpace

    space = MobileNetSpace(_space_config(shape))
    if args.random is not None and args.genomes:
        raise UserError("give genome strings or --random N, not both")
    if args.random is not None:
        if args.random < 1:
            raise UserError(f"--random must be at least 1, got {args.random}")
        rng = np.random.default_rng(np.random.SeedSequence([args.seed]))
        return [space.sample(rng) for _ in range(args.random)]
    if not args.genomes:
        raise UserError("give genome strings to profile, --random N, or 'build-lut' (see 'evonas profile --help')")
    return [space.parse(text) for text in args.genomes]


def run_profile(args) -> int:
    from hardware.lut import load_predictor
    from hardware.registry import get_target

    if args.out is not None:
        raise UserError("--out belongs to 'evonas profile build-lut'")
    if args.num_classes < 1:
        raise UserError(f"--num-classes must be at least 1, got {args.num_classes}")
    shape = parse_input_shape(args.input_shape)
    genomes = _networks(args, shape)
    target = get_target(args.target, **given_options(args, "target"))
    predictor = load_predictor(args.lut, args.force_lut) if args.lut else None
    if predictor is not None:
        predictor.table.check_network(shape, args.num_classes)
    rows = []
    for genome in genomes:
        row = profile_one(genome, _space_config(shape), shape, args.num_classes, target, predictor,
                          memory=not args.no_memory)
        rows.append(row)
        if args.format == "json":
            print(json.dumps(row), flush=True)
    if args.format == "table":
        print_table(rows)
    warning = noise_warning(rows, target)
    if warning:
        print(warning, file=sys.stderr)
    return 0


def noise_warning(rows: list[dict], target) -> str | None:
    """One line saying how many latencies the machine was too noisy for, and what was seen; None if none."""
    flagged = [r for r in rows if any(not f.startswith("drift") for f in r["latency_ms"].get("flags", ()))]
    if not flagged:  # drift alone was compensated
        return None
    kinds = sorted({f.split(":")[0] for r in flagged for f in r["latency_ms"]["flags"]})
    worst = max(flagged, key=lambda r: r["latency_ms"]["conditions"]["precision"])["latency_ms"]
    precision = getattr(target.compensation, "precision", None)
    return (f"warning: the machine was too noisy for +-{precision:.1%} on {len(flagged)} of {len(rows)} networks "
            f"({', '.join(kinds)}; e.g. {worst['flags'][0]}); their rows carry 'flags'")


def profile_one(genome, config, shape, num_classes, target, predictor, memory: bool = True) -> dict:
    """Params, FLOPs, latency (median, IQR), peak memory and (with a table) predicted latency of one genome."""
    import torch

    from evonas.mobilenet.builder import build
    from evonas.mobilenet.costs import count_flops, count_params

    model = build(genome, config, shape, num_classes, torch.Generator().manual_seed(0)).eval()
    if memory:
        prof = target.profile(model, shape)
        latency, peak = prof.latency, prof.peak_memory_mb
    else:
        latency, peak = target.measure(model, shape), None
    row = {"genome": str(genome), "target": target.name, "input_shape": list(shape),
           "params": count_params(model), "flops": count_flops(model, shape),
           "latency_ms": latency_row(latency),
           "peak_memory_mb": peak}
    if predictor is not None:
        row["predicted_latency_ms"] = predictor.table.predict(genome, config)
    return row


def latency_row(latency) -> dict:
    """A measurement as profile prints it: median and iqr first, then how it was obtained."""
    data = latency.as_dict()
    return {"median": data.pop("median_ms"), "iqr": data.pop("iqr_ms"), **data}


def print_table(rows: list[dict]) -> None:
    header = ["params", "MFLOPs", "latency_ms", "iqr_ms", "peak_MB", "predicted_ms", "genome"]
    lines = [header]
    for r in rows:
        pred = r.get("predicted_latency_ms")
        peak = r["peak_memory_mb"]
        lines.append([str(r["params"]), f"{r['flops'] / 1e6:.1f}", f"{r['latency_ms']['median']:.3f}",
                      f"{r['latency_ms']['iqr']:.3f}", "-" if peak is None else f"{peak:.1f}",
                      "-" if pred is None else f"{pred:.3f}", r["genome"]])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        print("  ".join(c.rjust(w) for c, w in zip(line[:-1], widths)) + "  " + line[-1])


def run_build_lut(args) -> int:
    from pathlib import Path

    from hardware.lut import build_table, entry_protocol
    from hardware.registry import get_target

    if len(args.genomes) > 1 or args.random is not None or args.lut:
        raise UserError("'evonas profile build-lut' takes only --target, --input-shape, --num-classes, --out, "
                        "--calibration, --repeats, --passes and --seed")
    if args.out is None:
        raise UserError("'evonas profile build-lut' needs --out FILE")
    if Path(args.out).exists():
        raise UserError(f"'{args.out}' already exists; choose another --out (a table is never overwritten)")
    if args.repeats < 1 or args.num_classes < 1:
        raise UserError("--repeats and --num-classes must be at least 1")
    shape = parse_input_shape(args.input_shape)
    target = get_target(args.target, **given_options(args, "target"))
    progress = _Progress()
    table = build_table(target, _space_config(shape), shape, args.num_classes, args.calibration, args.seed,
                        entry_protocol(args.repeats), progress, args.passes)
    progress.close()
    table.save(args.out)
    print(f"wrote {len(table.entries)} entries for target {target.name} at input {args.input_shape} to {args.out}; "
          f"correction a={table.correction[0]:.4f} b={table.correction[1]:.4f} c={table.correction[2]:.4f}, "
          f"in-sample MAPE {table.calibration['in_sample_mape_percent']:.2f}% on {args.calibration} networks")
    return 0


class _Progress:
    """A tqdm bar per build phase, on stderr."""

    def __init__(self):
        self.bar, self.phase = None, None

    def __call__(self, phase: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if phase != self.phase:
            self.close()
            self.bar, self.phase = tqdm(total=total, desc=phase, file=sys.stderr, dynamic_ncols=True), phase
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
