"""``siamfc``: assembles the sub-commands (one module each) and runs the chosen one.

Exit codes: 0 success, 1 runtime failure, 2 bad input (missing file, unreadable video, bad
box, missing weights), 130 interrupted (outputs written so far are complete and valid).
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import sys
from typing import Sequence

from . import bench, demo, eval, fit_score, quantize, soak, track, train, webcam
from .console import write
from .errors import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_INTERRUPTED, UserError

COMMANDS = (track, webcam, demo, bench, soak, quantize, fit_score, eval, train)   # in --help order


# a value that starts with a minus but is a box or a number, not an option: --box -20,-20,30,30
_NEGATIVE_VALUE = re.compile(r"-[\d.]")


class _VersionAction(argparse.Action):
    """``--version``: siamfc's and the libraries' versions (imported only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the versions of siamfc, torch and OpenCV and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        import cv2
        import torch

        from .. import __version__
        print(f"siamfc {__version__} (torch {torch.__version__}, OpenCV {cv2.__version__}, "
              f"Python {sys.version.split()[0]})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The ``siamfc`` parser: global options, then one sub-parser per command module."""
    parser = argparse.ArgumentParser(
        prog="siamfc", description="SiamFC object tracker: draw a box around anything in the "
        "first frame and follow it through a video, a folder of images or a camera.",
        epilog="`siamfc COMMAND --help` describes a command, with examples.")
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars or summaries (errors and warnings still show)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def join_option_values(argv: Sequence[str]) -> list[str]:
    """``--box -20,-20,30,30`` -> ``--box=-20,-20,30,30``: argparse would read a value with a
    leading minus as an unknown option."""
    out: list[str] = []
    it = iter(argv)
    for item in it:
        if item in ("--box", "--lost-threshold"):
            value = next(it, None)
            if value is not None and _NEGATIVE_VALUE.match(value):
                out.append(f"{item}={value}")
                continue
            out.append(item)
            if value is not None:
                out.append(value)
            continue
        out.append(item)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``siamfc`` and ``python -m tracker``; returns the exit code."""
    from ..errors import SourceError, WeightsError

    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(join_option_values(words))
    args.command_line = "siamfc " + " ".join(shlex.quote(str(w)) for w in words)   # for reports
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if not args.debug:     # FFmpeg's own lines ("moov atom not found"): ours name the file
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        write("siamfc: interrupted; outputs written so far are complete")
        return EXIT_INTERRUPTED
    except (UserError, track.InputError, SourceError, WeightsError, FileNotFoundError,
            ValueError) as exc:
        if args.debug:
            raise
        write(f"siamfc: error: {exc}")
        return EXIT_BAD_INPUT
    except Exception as exc:  # runtime failure: one line, traceback with --debug
        if args.debug:
            raise
        write(f"siamfc: failed: {type(exc).__name__}: {exc} (run with --debug for details)")
        return EXIT_FAILURE
