"""The ``evonas`` command line: a thin layer over the public API; subcommands register themselves."""

from __future__ import annotations

import argparse
import sys

from evonas.core.errors import UserError
from evonas.core.version import evonas_version


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2, and takes no abbreviated
    flags (``--threads`` must not silently mean ``--threads-per-worker``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; ``argv`` is peeked at so ``search`` shows the chosen plug-ins' own flags."""
    from evonas.cli import commands

    parser = _Parser(prog="evonas", description="Evolutionary multi-objective hardware-aware NAS.")
    parser.add_argument("--version", action="version", version=f"evonas {evonas_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for register in commands.REGISTRY:
        register(sub, list(sys.argv[1:] if argv is None else argv))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``evonas`` console script."""
    try:
        try:
            args = build_parser(argv).parse_args(argv)
        except SystemExit as exc:  # --help, or a usage error already printed as one line
            return int(exc.code or 0)
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. 'evonas history RUN | head'
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted: every finished candidate is in the run store; resume with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
