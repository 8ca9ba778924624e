"""``siamfc``: assembles the sub-commands (one module each) and runs the chosen one.

Exit codes: 0 success, 1 runtime failure, 2 bad input (missing file, unreadable video, bad
box, missing weights), 130 interrupted (outputs written so far are complete and valid).
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from . import bench, demo, eval, quantize, soak, track, train, webcam
from .errors import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_INTERRUPTED, UserError

COMMANDS = (track, webcam, demo, bench, soak, quantize, eval, train)   # in --help order


def build_parser() -> argparse.ArgumentParser:
    """The ``siamfc`` parser: global options, then one sub-parser per command module."""
    parser = argparse.ArgumentParser(prog="siamfc", description="SiamFC object tracker")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``siamfc`` and ``python -m tracker``; returns the exit code."""
    from ..errors import SourceError, WeightsError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("siamfc: interrupted; outputs written so far are complete", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UserError, track.InputError, SourceError, WeightsError, FileNotFoundError,
            ValueError) as exc:
        if args.debug:
            raise
        print(f"siamfc: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # runtime failure: one line, traceback with --debug
        if args.debug:
            raise
        print(f"siamfc: failed: {type(exc).__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)
        return EXIT_FAILURE
