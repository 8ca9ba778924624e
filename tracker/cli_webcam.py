"""``siamfc webcam``: live tracking in a camera feed or stream, with keys and an overlay.

Part of the command line (it opens windows and reads keys); the window is behind the small
``Display`` interface so the loop runs headless in tests with a scripted display.

Keys: r re-select, space pause/resume, a add a target, d drop the selected target (click a
box or press Tab to select), s snapshot, q / Esc quit.
"""
from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .annotate import draw_status, draw_targets
from .outputs import BoxWriter, open_box_writer
from .siamfc import SiamFCMultiTracker, TrackResult
from .video import BackgroundReader, FrameSource, VideoSink, is_live

HELP = "r reselect  space pause  a add  d drop  tab select  s snapshot  q quit"
KEY_TAB, KEY_ESC = 9, 27


class Display(Protocol):
    """Where the live view goes and where keys and boxes come from."""

    def show(self, frame: np.ndarray) -> None: ...

    def key(self, wait_ms: int) -> int:
        """The key pressed within ``wait_ms`` ms (-1 for none)."""

    def select_box(self, frame: np.ndarray, prompt: str) -> tuple[float, float, float, float] | None:
        """A box drawn by the user on ``frame`` (0-based x, y, w, h), None when cancelled."""

    def clicked(self) -> tuple[int, int] | None:
        """The last mouse click (x, y) since the previous call, if any."""

    def close(self) -> None: ...


class CvDisplay:
    """An OpenCV window."""

    def __init__(self, title: str = "siamfc") -> None:
        import cv2
        self.cv2, self.title = cv2, title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        self._click: tuple[int, int] | None = None
        cv2.setMouseCallback(title, self._on_mouse)

    def _on_mouse(self, event: int, x: int, y: int, flags: int, param: object) -> None:
        if event == self.cv2.EVENT_LBUTTONDOWN:
            self._click = (x, y)

    def show(self, frame: np.ndarray) -> None:
        self.cv2.imshow(self.title, frame)

    def key(self, wait_ms: int) -> int:
        k = self.cv2.waitKey(max(1, wait_ms))
        return -1 if k < 0 else k & 0xFF

    def select_box(self, frame: np.ndarray, prompt: str) -> tuple[float, float, float, float] | None:
        shown = draw_status(frame, prompt + " (drag, then Enter; c cancels)")
        x, y, w, h = self.cv2.selectROI(self.title, shown, showCrosshair=True, fromCenter=False)
        return (float(x), float(y), float(w), float(h)) if w > 0 and h > 0 else None

    def clicked(self) -> tuple[int, int] | None:
        click, self._click = self._click, None
        return click

    def close(self) -> None:
        self.cv2.destroyWindow(self.title)
        self.cv2.waitKey(1)


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


def run_live(source_name: str, tracker: SiamFCMultiTracker, display: Display | None,
             options: LiveOptions) -> LiveStats:
    """Track in ``source_name`` (camera index, URL, or a file standing in for a camera) until
    the feed ends, ``q`` or Ctrl-C. Outputs are closed (valid) however the loop ends."""
    stats = LiveStats()
    results: list[TrackResult] = []
    selected: int | None = None
    fps = 0.0
    start = time.perf_counter()
    with ExitStack() as stack:
        source = stack.enter_context(FrameSource(source_name))
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
                results = tracker.update(frame)
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
