"""``siamfc soak``: track a looping generated clip for many frames and report memory and time at
start and end."""
from __future__ import annotations

import argparse

from .console import progress
from .errors import EXIT_OK, UserError
from .options import add_model_options, add_redetect_option, build_multi_tracker


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("soak", help="track a looping generated clip for many frames; report "
                                    "memory and time at start and end")
    p.add_argument("--frames", type=int, default=100_000)
    p.add_argument("--size", default="160x120", help="frame size WIDTHxHEIGHT")
    p.add_argument("--trace", help="CSV of frame, RSS (MiB) and median ms, written as the run goes")
    add_redetect_option(p)
    add_model_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..diagnostics.soak import run_soak

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise UserError(f"--size must be WIDTHxHEIGHT, got {args.size!r}") from None
    if args.frames < 1 or w < 16 or h < 16:
        raise UserError("--frames must be >= 1 and --size at least 16x16")
    tracker = build_multi_tracker(args, redetect=args.redetect)
    bar = progress(args.frames, "soak", enabled=not args.quiet)
    trace = open(args.trace, "w", encoding="utf-8") if args.trace else None
    done = [0]

    def on_progress(i: int, rss: float, ms: float) -> None:
        bar.update(i - done[0])
        bar.set_postfix_str(f"RSS {rss:.1f} MiB, {ms:.2f} ms/frame")
        done[0] = i
        if trace is not None:   # written as it goes: a stopped run keeps its figures
            trace.write(f"{i},{rss:.2f},{ms:.3f}\n")
            trace.flush()

    try:
        if trace is not None:
            trace.write("frame,rss_mib,median_ms\n")
        report = run_soak(tracker, args.frames, (w, h), on_progress=on_progress)
    finally:
        bar.close()
        if trace is not None:
            trace.close()
    print(f"soak: {report.frames} frames of a {w}x{h} generated clip on {tracker.device} "
          f"({tracker.precision}), redetect={tracker.cfg.redetect}, "
          f"{report.lost_frames} lost target-frames")
    print("| | after warm-up | end | change |\n|---|---|---|---|")
    print(f"| RSS MiB | {report.rss_start:.1f} | {report.rss_end:.1f} | {report.rss_growth:+.1f} |")
    print(f"| update ms (median of 200) | {report.ms_start:.2f} | {report.ms_end:.2f} | "
          f"{report.ms_end - report.ms_start:+.2f} |")
    return EXIT_OK
