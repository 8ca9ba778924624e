"""Long-run check: track a looping generated clip for many frames and watch memory and time.

``siamfc soak`` reports resident memory (RSS) and per-frame time at the start (after warm-up)
and at the end; a steady tracker shows neither growing. The clip loops (the object's path is
closed) and includes an occlusion, so the lost-state bookkeeping runs too.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..siamfc import SiamFCMultiTracker
from .synthetic import make_clip


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc; NaN elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


@dataclass
class SoakReport:
    """RSS (MiB) and median per-frame time (ms) over the first and last windows, after warm-up."""

    frames: int
    rss_start: float
    rss_end: float
    ms_start: float
    ms_end: float
    lost_frames: int = 0
    samples: list[tuple[int, float, float]] = field(default_factory=list)   # frame, rss, ms

    @property
    def rss_growth(self) -> float:
        return self.rss_end - self.rss_start


def run_soak(tracker: SiamFCMultiTracker, num_frames: int, size: tuple[int, int] = (160, 120),
             warmup: int = 200, window: int = 200, clip_frames: int = 120,
             on_progress: Callable[[int, float, float], None] | None = None) -> SoakReport:
    """Track ``num_frames`` updates of a looping ``size`` (w, h) generated clip.

    ``on_progress(frame, rss_mib, median_ms)`` is called about 50 times along the run, with the
    same figures that go into ``SoakReport.samples``.
    """
    clip = make_clip(num_frames=clip_frames, size=size, seed=0)
    tracker.init(clip.frames[0], clip.boxes[0])
    times = np.zeros(num_frames)
    samples, lost = [], 0
    rss_start = float("nan")
    every = max(1, num_frames // 50)
    for i in range(num_frames):
        start = time.perf_counter()
        results = tracker.update(clip.frames[(i + 1) % clip_frames])
        times[i] = time.perf_counter() - start
        lost += sum(r.lost for r in results)
        if i + 1 == min(warmup, num_frames):
            rss_start = rss_mb()
        if (i + 1) % every == 0:
            samples.append((i + 1, rss_mb(), float(np.median(times[max(0, i + 1 - window):i + 1]) * 1e3)))
            if on_progress is not None:
                on_progress(*samples[-1])
    w = min(window, max(1, (num_frames - warmup) // 2)) if num_frames > warmup else num_frames
    first = times[min(warmup, num_frames - w):min(warmup, num_frames - w) + w]
    return SoakReport(num_frames, rss_start, rss_mb(), float(np.median(first) * 1e3),
                      float(np.median(times[-w:]) * 1e3), lost, samples)
