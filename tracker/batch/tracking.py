"""Track one video file or image folder into its outputs: the loop that ``siamfc track`` runs
per input, on this machine or as a Ray task (``cluster.py``).

A ``TrackJob`` says what to read and where to write; ``track_job`` runs it with a tracker. Bad
input found before the first frame is tracked (no frames, no box, a box outside the frame)
raises ``ValueError`` or ``SourceError`` naming the input, before any output file exists; a
read error after it ends the job with every output valid up to the last good frame
(``JobReport.error``).
"""
from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..errors import SourceError
from ..media.annotate import draw_targets
from ..media.boxfiles import open_box_writer
from ..media.video import BackgroundReader, FrameSource, ImageFolderSink, VideoSink
from ..results import TrackResult
from ..siamfc import SiamFCMultiTracker

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class TrackJob:
    """One input and its outputs: ``boxes`` 0-based (x, y, w, h) px on frame ``start_frame``
    (empty: chosen on the first frame by the caller), ``box_files`` (path, format) pairs, an
    annotated ``video`` or ``frames_dir``, at most ``max_frames`` frames."""

    source: str
    boxes: tuple[Box, ...] = ()
    box_files: tuple[tuple[str, str], ...] = ()
    video: str | None = None
    frames_dir: str | None = None
    start_frame: int = 0
    max_frames: int | None = None

    @property
    def outputs(self) -> list[str]:
        """Every output path given."""
        return [p for p, _ in self.box_files] + [p for p in (self.video, self.frames_dir) if p]


@dataclass
class JobReport:
    """What a job did: frames tracked, seconds, the files written, and the error that ended it
    early (its outputs hold every frame before it)."""

    source: str
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None
    written: list[str] = field(default_factory=list)


def track_job(job: TrackJob, tracker: SiamFCMultiTracker,
              update: Callable[[np.ndarray], list[TrackResult]] | None = None,
              choose_boxes: Callable[[np.ndarray], Sequence[Box]] | None = None,
              on_start: Callable[[int | None], None] | None = None,
              on_frame: Callable[[int, np.ndarray, list[TrackResult]], None] | None = None
              ) -> JobReport:
    """Track ``job`` with ``tracker``: each update through ``update`` (default
    ``tracker.update``), boxes from ``choose_boxes(first frame)`` when the job has none,
    ``on_start(frames to go, or None)`` once the outputs are open and ``on_frame(index,
    frame, results)`` after each frame is written (a display, a progress bar)."""
    report = JobReport(job.source)
    start = time.perf_counter()
    step = update or tracker.update
    with ExitStack() as stack:
        source = stack.enter_context(FrameSource(job.source))
        frames = iter(stack.enter_context(BackgroundReader(source, prefetch=8, name=job.source)))
        # the first frame and its boxes are checked before any output file is created
        first = next(frames, None)
        while first is not None and first[0] < job.start_frame:       # decoded and skipped
            first = next(frames, None)
        if first is None:
            raise SourceError(f"{job.source}: no frames could be read" + (
                f" at frame {job.start_frame} or later (--start-frame; it has "
                f"{len(source) or 'fewer'} frames)" if job.start_frame else ""))
        boxes = list(job.boxes) or (list(choose_boxes(first[1])) if choose_boxes else [])
        if not boxes:
            raise ValueError(f"{job.source}: no initial box (pass --box or --boxes-json, or "
                             "draw one on the first frame with a display)")
        try:
            ids = tracker.init(first[1], np.asarray(boxes, dtype=np.float64))
        except ValueError as exc:
            raise ValueError(f"{job.source}: frame {first[0]}: {exc}") from None
        writers = [stack.enter_context(open_box_writer(p, f, job.source, source.fps))
                   for p, f in job.box_files]
        sink = None
        if job.video is not None:
            sink = stack.enter_context(VideoSink(job.video, source.fps))
        elif job.frames_dir is not None:
            sink = stack.enter_context(ImageFolderSink(job.frames_dir))
        if on_start is not None:
            total = max(len(source) - job.start_frame, 0) or None
            on_start(min(total, job.max_frames) if total and job.max_frames
                     else total or job.max_frames)
        results = [TrackResult(tuple(map(float, b)), 1.0, 1.0, i) for b, i in zip(boxes, ids)]
        index, frame = first
        try:
            while True:
                if index > first[0]:
                    results = step(frame)
                for writer in writers:
                    writer.write(index, results)
                if sink is not None:
                    sink.write(draw_targets(frame, results))
                report.frames = index - first[0] + 1
                if on_frame is not None:
                    on_frame(index, frame, results)
                if job.max_frames is not None and report.frames >= job.max_frames:
                    break
                nxt = next(frames, None)
                if nxt is None:
                    break
                index, frame = nxt
        except SourceError as exc:
            report.error = f"{exc} ({report.frames} frames tracked before it are written)"
        report.written = [str(p) for w in writers for p in w.written] + job.outputs[
            len(job.box_files):]
    report.seconds = time.perf_counter() - start
    return report
