"""``evonas report RUN_DIR [--out DIR] [--bundle EXPORT_DIR] [--screenshot PNG]``."""

from __future__ import annotations


def register(sub, argv: list[str]) -> None:
    p = sub.add_parser("report", help="write a self-contained HTML report of a run (finished or still going)")
    p.add_argument("run_dir", help="the run directory")
    p.add_argument("--out", default=None,
                   help="directory for report.html and the figures as PNG and SVG [default: RUN_DIR/report]")
    p.add_argument("--bundle", default=None, metavar="EXPORT_DIR",
                   help="an 'evonas export' directory: the front table links each member to its ONNX file")
    p.add_argument("--screenshot", default=None, metavar="PNG",
                   help="also save a screenshot of the page, rendered in headless Chromium")
    p.add_argument("--screenshot-height", type=int, default=None, metavar="PX",
                   help="screenshot only the top PX pixels of the page (1280 wide) [default: the whole page]")
    p.set_defaults(func=run)


def run(args) -> int:
    from evonas.core.errors import UserError
    from evonas.report import write_report

    if args.screenshot_height is not None and (args.screenshot_height <= 0 or not args.screenshot):
        raise UserError("--screenshot-height takes a positive number of pixels, with --screenshot")

    report = write_report(args.run_dir, args.out, args.bundle)
    if args.screenshot:
        from evonas.report.browser import screenshot

        screenshot(report.html, args.screenshot, height=args.screenshot_height)
    view = report.view
    print(f"wrote {report.html} ({len(view.front)} front members, {len(view.told)} evaluated"
          + (f", {len(view.running)} still running" if view.running else "") + ")")
    print("figures: " + " ".join(str(p) for p in report.figures))
    if args.screenshot:
        print(f"screenshot: {args.screenshot}")
    return 0
