"""``evonas export RUN_DIR --out DIR``."""

from __future__ import annotations


def register(sub, argv: list[str]) -> None:
    p = sub.add_parser("export", help="write every Pareto-front member as a checked ONNX file")
    p.add_argument("run_dir", help="the run directory")
    p.add_argument("--out", required=True, help="directory for the ONNX files and manifest.json")
    p.set_defaults(func=run)


def run(args) -> int:
    from evonas.engine.export import export_front

    exported = export_front(args.run_dir, args.out)
    for e in exported:
        values = "  ".join(f"{k}={v:.4g}" for k, v in e.objectives.items())
        print(f"{e.file}  {values}  max|onnx-torch|={e.max_abs_diff:.2e}")
    print(f"wrote {len(exported)} ONNX file(s) and manifest.json to {args.out}")
    return 0
