"""Per-stage wall-clock timing for benchmarks (off by default: no cost, no synchronisation)."""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch


class StageTimer:
    """Collects seconds per named stage. With CUDA it synchronises around each stage, so only
    enable it to measure (it removes the overlap the tracker otherwise gets)."""

    def __init__(self, device: torch.device | str = "cpu", enabled: bool = False) -> None:
        self.device = torch.device(device)
        self.enabled = enabled
        self.times: dict[str, list[float]] = defaultdict(list)   # stage -> seconds per lap
        self._lap: dict[str, float] = defaultdict(float)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        self._sync()
        start = time.perf_counter()
        yield
        self._sync()
        self._lap[name] += time.perf_counter() - start

    def lap(self) -> None:
        """End of one frame: a stage entered several times in it counts once, summed."""
        for name, seconds in self._lap.items():
            self.times[name].append(seconds)
        self._lap.clear()

    def discard(self) -> None:
        """Drop the stage times since the last lap (work that is not a frame's update)."""
        self._lap.clear()

    def reset(self) -> None:
        self.times.clear()
        self._lap.clear()

    def summary(self) -> dict[str, tuple[float, float]]:
        """Stage -> (median ms, p90 ms) over laps (frames)."""
        self.lap()
        return {k: (float(np.median(v) * 1e3), float(np.percentile(v, 90) * 1e3))
                for k, v in self.times.items() if v}
