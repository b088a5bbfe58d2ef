"""``evonas export RUN_DIR --out DIR [--select ID,ID,...] [--quantize int8]``."""

from __future__ import annotations

import argparse


def _ids(text: str) -> tuple[int, ...]:
    try:
        ids = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected candidate ids such as 3,7, got {text!r}") from None
    if not ids:
        raise argparse.ArgumentTypeError("expected at least one candidate id")
    return ids


def register(sub, argv: list[str]) -> None:
    p = sub.add_parser("export", help="write a deployment bundle (checked ONNX file, model card) per front member")
    p.add_argument("run_dir", help="the run directory")
    p.add_argument("--out", required=True,
                   help="new or empty directory for candidate_<id>/ bundles and manifest.json (written all or nothing)")
    p.add_argument("--select", type=_ids, default=None, metavar="ID,ID,...",
                   help="export these candidates instead of the Pareto front (successful ones whose weights "
                        "the run kept)")
    p.add_argument("--quantize", choices=["int8"], default=None,
                   help="also write model.int8.onnx (static quantisation calibrated on training images), "
                        "its accuracy and latency beside the float model's")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from evonas.api.spec import export_run

    try:
        exported = export_run(args.run_dir, args.out, select=args.select, quantize=args.quantize)
    except KeyboardInterrupt:
        print(f"interrupted: nothing was written to {args.out}", file=sys.stderr)
        return 130
    for e in exported:
        values = "  ".join(f"{k}={v:.4g}" for k, v in e.objectives.items())
        print(f"{e.dir}  {values}  max|onnx-torch|={e.max_abs_diff:.2e}  latency {e.latency.text()}")
    if args.quantize:
        where = exported[0].latency
        print(f"\nfloat32 vs int8: accuracy on the validation split; latency at batch 1 on target {where.target}, "
              "both files measured side by side")
        print(_comparison(exported))
    print(f"wrote {len(exported)} bundle(s) and manifest.json to {args.out}")
    return 0


def _comparison(exported) -> str:
    """float vs int8 per bundle: accuracy, latency median [IQR] (measured side by side), file size."""
    rows = [["candidate", "model", "accuracy", "latency median [IQR]", "size"]]
    for e in exported:
        rows.append([str(e.candidate_id), "float32", _acc(e.accuracy_onnx), e.latency.text(), _size(e.size_bytes)])
        rows.append(["", "int8", _acc(e.int8.accuracy), e.int8.latency.text(), _size(e.int8.size_bytes)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB"
