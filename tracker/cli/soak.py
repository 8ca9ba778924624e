"""``siamfc soak``: track a looping generated clip for many frames and report memory and time at
start and end."""
from __future__ import annotations

import argparse

from .console import progress
from .errors import EXIT_OK, UserError
from .options import (add_command, add_model_options, add_redetect_option, build_multi_tracker,
                      running_on, thread_policy)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "soak", "track a looping generated clip for many frames; report "
                                 "memory and time at start and end",
                    "Track a looping generated clip for many frames and report resident memory "
                    "and per-frame time after warm-up and at the end (a steady tracker shows "
                    "neither growing).",
                    ["siamfc soak --frames 20000",
                     "siamfc soak --frames 100000 --size 96x64 --trace soak.csv --dtype fp32"])
    run_group = p.add_argument_group("soak")
    run_group.add_argument("--frames", type=int, default=100_000,
                           help="updates to run (default 100000)")
    run_group.add_argument("--size", default="160x120", help="frame size WIDTHxHEIGHT (default 160x120)")
    run_group.add_argument("--trace", metavar="FILE",
                           help="CSV of frame, RSS (MiB) and median ms, written as the run goes")
    add_redetect_option(add_model_options(p))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..diagnostics.soak import run_soak

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise UserError(f"--size must be WIDTHxHEIGHT, got {args.size!r}") from None
    if args.frames < 1 or w < 16 or h < 16:
        raise UserError("--frames must be >= 1 and --size at least 16x16")
    thread_policy(args)     # N threads; auto leaves torch's default (no loop to govern)
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
    print(f"soak: {report.frames} frames of a {w}x{h} generated clip, {running_on(tracker)}, "
          f"redetect={tracker.cfg.redetect}, "
          f"{report.lost_frames} lost target-frames")
    print("| | after warm-up | end | change |\n|---|---|---|---|")
    print(f"| RSS MiB | {report.rss_start:.1f} | {report.rss_end:.1f} | {report.rss_growth:+.1f} |")
    print(f"| update ms (median of 200) | {report.ms_start:.2f} | {report.ms_end:.2f} | "
          f"{report.ms_end - report.ms_start:+.2f} |")
    return EXIT_OK
