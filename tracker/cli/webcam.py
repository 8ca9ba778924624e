"""``siamfc webcam``: live tracking in a camera feed or stream, with keys and an overlay
(also ``siamfc track 0`` or ``siamfc track URL``).

The window is behind the small ``Display`` interface (``display.py``), so the loop runs
headless in tests with a scripted display.

Keys: r re-select, space pause/resume, a add a target, d drop the selected target (click a
box or press Tab to select), s snapshot, q / Esc quit.
"""
from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..geometry import parse_box
from ..media.annotate import draw_status, draw_targets
from ..media.boxfiles import BoxWriter, open_box_writer
from ..media.video import BackgroundReader, FrameSource, VideoSink, is_live
from ..model.weights import FAST_BACKBONE
from ..siamfc import SiamFCMultiTracker, TrackResult
from .console import say
from .display import Display, open_display
from .errors import EXIT_OK, UserError
from .options import (add_box_file_options, add_box_options, add_command, add_display_option,
                      add_lost_options, add_model_options, build_multi_tracker, thread_policy)
from .threads import ThreadGovernor

HELP = "r reselect  space pause  a add  d drop  tab select  s snapshot  q quit"
KEY_TAB, KEY_ESC = 9, 27


@dataclass
class LiveOptions:
    """What the live loop writes and how long it waits (paths may be None)."""

    record: str | None = None              # annotated video
    output_boxes: str | None = None        # box file, format from the extension
    box_format: str | None = None
    snapshot_dir: str = "."
    timeout: float = 10.0                  # s without a frame -> the camera is gone
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    max_frames: int | None = None


@dataclass
class LiveStats:
    frames: int = 0          # frames processed
    dropped: int = 0         # stale frames skipped to stay live
    snapshots: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _hit(results: Sequence[TrackResult], point: tuple[int, int]) -> int | None:
    """Id of the smallest box containing ``point``."""
    inside = [r for r in results if r.box[0] <= point[0] <= r.box[0] + r.box[2]
              and r.box[1] <= point[1] <= r.box[1] + r.box[3]]
    return min(inside, key=lambda r: r.box[2] * r.box[3]).target_id if inside else None


def run_live(source_name: str | FrameSource, tracker: SiamFCMultiTracker,
             display: Display | None, options: LiveOptions,
             governor: ThreadGovernor | None = None) -> LiveStats:
    """Track in ``source_name`` (camera index, URL, or a file standing in for a camera; or
    such a source already open, closed here) until the feed ends, ``q`` or Ctrl-C. Outputs
    are closed (valid) however the loop ends."""
    stats = LiveStats()
    results: list[TrackResult] = []
    selected: int | None = None
    fps = 0.0
    start = time.perf_counter()
    with ExitStack() as stack:
        source = stack.enter_context(source_name if isinstance(source_name, FrameSource)
                                     else FrameSource(source_name))
        source_name = source.source
        reader = stack.enter_context(BackgroundReader(source, latest=is_live(source_name),
                                                      timeout=options.timeout, name=source_name))
        sink = stack.enter_context(VideoSink(options.record, source.fps)) if options.record else None
        writer: BoxWriter | None = None
        if options.output_boxes:
            writer = stack.enter_context(open_box_writer(options.output_boxes, options.box_format,
                                                         source_name, source.fps))
        if display is not None:
            stack.callback(display.close)
        last = time.perf_counter()
        recorded_drops = 0   # stale frames the recording has stood in for so far
        for index, frame in reader:
            # targets: the given boxes on the first frame taken (a live feed may have dropped
            # frame 0 already), else one drawn by the user
            if stats.frames == 0 and (options.boxes or display is not None):
                boxes = list(options.boxes)
                if not boxes and display is not None:
                    boxes = [b for b in [display.select_box(frame, "draw the target")] if b]
                if boxes:
                    ids = tracker.init(frame, np.asarray(boxes, dtype=np.float64))
                    results = [TrackResult(tuple(map(float, b)), 1.0, 1.0, i) for b, i in zip(boxes, ids)]
                    selected = ids[-1]
            elif tracker.num_targets:
                results = governor.run(tracker.update, frame) if governor else tracker.update(frame)
            stats.frames += 1
            now = time.perf_counter()
            fps = 1 / max(1e-6, now - last) if fps == 0 else 0.9 * fps + 0.1 / max(1e-6, now - last)
            last = now
            if writer is not None and results:
                writer.write(index, results)
            shown = draw_targets(frame, results, selected)
            status = f"{fps:.1f} fps  {len(results)} target{'s' * (len(results) != 1)}  frame {index}"
            if sink is not None:
                # a live feed drops stale frames; this frame stands in for them, so the
                # recording keeps the camera's frame count and plays back at its speed
                dropped = reader.dropped    # read once: the reader thread goes on dropping
                for _ in range(1 + dropped - recorded_drops):
                    sink.write(shown)
                recorded_drops = dropped
            if options.max_frames is not None and stats.frames >= options.max_frames:
                break
            if display is None:
                continue
            # keys; space pauses on this frame until pressed again
            paused = False
            while True:
                display.show(draw_status(shown, status + ("  PAUSED" if paused else ""), HELP))
                key = display.key(30 if paused else 1)
                click = display.clicked()
                hit = _hit(results, click) if click is not None else None
                if hit is not None:
                    selected = hit
                if key in (ord("q"), KEY_ESC):
                    stats.dropped, stats.seconds = reader.dropped, time.perf_counter() - start
                    return stats
                if key == ord(" "):
                    paused = not paused
                elif key == ord("s"):
                    path = Path(options.snapshot_dir) / f"siamfc-{time.strftime('%Y%m%d-%H%M%S')}-{index:06d}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    import cv2
                    if not cv2.imwrite(str(path), draw_status(shown, status)):
                        raise OSError(f"{path}: cannot write the snapshot")
                    stats.snapshots.append(str(path))
                elif key in (ord("r"), ord("a")):
                    box = display.select_box(frame, "draw the target" if key == ord("r")
                                             else "draw another target")
                    try:
                        if box is not None and (key == ord("r") or not tracker.num_targets):
                            selected = tracker.init(frame, np.asarray([box]))[0]
                            results = [TrackResult(box, 1.0, 1.0, selected)]
                        elif box is not None:
                            selected = tracker.add(frame, box)
                            results = results + [TrackResult(box, 1.0, 1.0, selected)]
                    except ValueError as exc:     # a box too small or outside the frame
                        status = f"box not used: {exc}"
                elif key == ord("d") and selected is not None and selected in tracker.ids:
                    tracker.remove(selected)
                    results = [r for r in results if r.target_id != selected]
                    selected = results[-1].target_id if results else None
                elif key == KEY_TAB and results:
                    ids = [r.target_id for r in results]
                    selected = ids[(ids.index(selected) + 1) % len(ids)] if selected in ids else ids[0]
                shown = draw_targets(frame, results, selected)
                if not paused:
                    break
        stats.dropped = reader.dropped
    stats.seconds = time.perf_counter() - start
    return stats


BEHIND = 0.1     # the share of the feed's frames skipped as stale above which the summary says so


def behind_hint(frames: int, dropped: int, network: str) -> str | None:
    """What to say when the tracker fell behind a live feed (more than ``BEHIND`` of the
    ``frames + dropped`` frames it sent were stale and skipped) and a faster network than
    ``network`` exists; None otherwise."""
    sent = frames + dropped
    if network == FAST_BACKBONE or dropped <= BEHIND * sent:
        return None
    return (f"the tracker fell behind the feed ({dropped} of its {sent} frames were skipped); "
            "--fast updates about 2.5-3 times as often, at lower accuracy (docs/speed.md)")


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "webcam", "track live in a camera feed or stream",
                    "Track live in a camera feed or stream: draw the targets with the mouse (or "
                    "give --box), see them followed, lost and re-found; keys: r re-select, a add, "
                    "click/Tab select, d drop, space pause, s snapshot, q quit.",
                    ["siamfc webcam",
                     "siamfc webcam --camera 1 --record live.mp4 --output-boxes live.csv",
                     "siamfc webcam --camera rtsp://host/stream --box 100,80,60,120"])
    inputs = p.add_argument_group("input")
    inputs.add_argument("--camera", default="0", help="camera index or stream URL (default 0)")
    add_box_options(inputs)
    inputs.add_argument("--timeout", type=float, default=10.0,
                        help="seconds without a frame before giving up on the camera (default 10)")
    inputs.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    outputs = p.add_argument_group("outputs")
    outputs.add_argument("--record", metavar="FILE",
                         help="save the annotated stream (.mp4 or .avi)")
    add_box_file_options(outputs)
    outputs.add_argument("--snapshot-dir", default=".", metavar="DIR",
                         help="where the s key saves snapshots (default: here)")
    add_lost_options(add_model_options(p, threads="auto"))
    add_display_option(p.add_argument_group("display"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``siamfc webcam`` (and ``siamfc track`` given a camera or stream)."""
    boxes = [parse_box(b) for b in (args.box or [])]
    # a missing camera is the first thing said (before the display, before the model loads)
    with FrameSource(str(args.camera)) as source:
        display = open_display(args)
        if not boxes and display is None:
            raise UserError("no --box given and no display to draw one on; pass --box X,Y,W,H "
                            "(0-based pixels)")
        record = getattr(args, "record", None) or getattr(args, "output_video", None)
        options = LiveOptions(record=record, output_boxes=args.output_boxes,
                              box_format=args.format.split(",")[0] if args.format else None,
                              snapshot_dir=getattr(args, "snapshot_dir", ".") or ".",
                              timeout=getattr(args, "timeout", 10.0), boxes=boxes,
                              max_frames=getattr(args, "max_frames", None))
        governor = thread_policy(args)
        tracker = build_multi_tracker(args, redetect=getattr(args, "redetect", None) is not False)
        stats = run_live(source, tracker, display, options, governor)
    say(args, f"{stats.frames} frames in {stats.seconds:.1f} s "
              f"({stats.frames / max(stats.seconds, 1e-9):.1f} fps), {stats.dropped} stale frames "
              "dropped" + "".join(f"; snapshot {p}" for p in stats.snapshots)
        + (f"; video: {record}" if record else "")
        + (f"; boxes: {args.output_boxes}" if args.output_boxes else ""))
    hint = behind_hint(stats.frames, stats.dropped, tracker.model.backbone_name)
    if hint:
        say(args, hint)
    return EXIT_OK
