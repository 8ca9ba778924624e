"""Speed measurement of the tracking loop, stage by stage, and of OpenCV's trackers on the
same frames. Used by ``siamfc bench``; a benchmark, never a timed unit test."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..siamfc import SiamFCMultiTracker


@dataclass
class BenchResult:
    """Per-stage (median ms, p90 ms), per-frame update times and the derived rates."""

    name: str
    targets: int
    frames: int
    stages: dict[str, tuple[float, float]] = field(default_factory=dict)
    update_s: list[float] = field(default_factory=list)
    decode_s: list[float] = field(default_factory=list)

    @property
    def update_ms(self) -> tuple[float, float]:
        t = np.asarray(self.update_s) * 1e3
        return float(np.median(t)), float(np.percentile(t, 90))

    @property
    def fps(self) -> float:
        """Frames per second of update() alone (median-free: total frames / total time)."""
        return len(self.update_s) / max(1e-12, float(np.sum(self.update_s)))

    @property
    def end_to_end_fps(self) -> float:
        """Frames per second including decoding (when decode times were measured)."""
        total = float(np.sum(self.update_s)) + float(np.sum(self.decode_s))
        return len(self.update_s) / max(1e-12, total)

    @property
    def target_updates_per_s(self) -> float:
        return self.fps * self.targets


def bench_siamfc(tracker: SiamFCMultiTracker, frames: list[np.ndarray], boxes: np.ndarray,
                 num_frames: int, warmup: int = 10, decode_s: list[float] | None = None,
                 name: str = "siamfc", governor=None) -> BenchResult:
    """Init on ``frames[0]`` with ``boxes`` (N, 4), then time ``num_frames`` updates cycling
    through ``frames[1:]`` after ``warmup`` untimed ones; with a ``governor`` (the command
    line's ``ThreadGovernor``) each update runs through it."""
    tracker.init(frames[0], boxes)
    loop = frames[1:] or frames
    for i in range(warmup):
        tracker.update(loop[i % len(loop)])
    tracker.timer.reset()
    tracker.timer.enabled = True
    result = BenchResult(name, len(boxes), num_frames)
    try:
        for i in range(num_frames):
            start = time.perf_counter()
            if governor is not None:
                governor.run(tracker.update, loop[(warmup + i) % len(loop)])
            else:
                tracker.update(loop[(warmup + i) % len(loop)])
            result.update_s.append(time.perf_counter() - start)
    finally:
        tracker.timer.enabled = False
    result.stages = tracker.timer.summary()
    if decode_s:
        result.decode_s = [decode_s[i % len(decode_s)] for i in range(num_frames)]
    return result


def bench_opencv(name: str, make, frames: list[np.ndarray], box: np.ndarray, num_frames: int,
                 decode_s: list[float] | None = None) -> BenchResult:
    """Time an OpenCV tracker (``make()`` builds one) on the same frames, one target."""
    tracker = make()
    tracker.init(frames[0], tuple(int(round(v)) for v in box))
    loop = frames[1:] or frames
    result = BenchResult(name, 1, num_frames)
    for i in range(num_frames):
        start = time.perf_counter()
        tracker.update(loop[i % len(loop)])
        result.update_s.append(time.perf_counter() - start)
    if decode_s:
        result.decode_s = [decode_s[i % len(decode_s)] for i in range(num_frames)]
    return result


def format_table(results: list[BenchResult]) -> str:
    """A Markdown table: stages (median / p90 ms), update fps, end-to-end fps."""
    stages = []
    for r in results:
        for k in r.stages:
            if k not in stages:
                stages.append(k)
    head = ["tracker", "targets", "decode ms"] + [f"{s} ms" for s in stages] + \
        ["update ms (med/p90)", "update fps", "end-to-end fps", "target-updates/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        dec = np.asarray(r.decode_s) * 1e3
        cells = [r.name, str(r.targets), f"{np.median(dec):.2f}" if len(dec) else "-"]
        for s in stages:
            cells.append("{:.2f} / {:.2f}".format(*r.stages[s]) if s in r.stages else "-")
        cells += ["{:.2f} / {:.2f}".format(*r.update_ms), f"{r.fps:.1f}",
                  f"{r.end_to_end_fps:.1f}", f"{r.target_updates_per_s:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
