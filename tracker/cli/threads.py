"""The command line's thread policy while tracking (``--threads auto``): torch's default of one
thread per core while the machine is quiet, one thread while other programs load the cores.

Two threads collapse next to a busy competitor (each parallel region waits for the thread the
competitor displaced: a lite update went from 42 to 273 ms on 2 cores, against 77 ms with one
thread; see docs/speed.md). The governor tries the other thread count for a few frames now and
then and keeps the one whose median update time was lower. The library itself never changes
torch's threads; the command line owns its process.
"""
from __future__ import annotations

import statistics
import time
from collections import deque
from typing import Callable, TypeVar

import torch

T = TypeVar("T")


class ThreadGovernor:
    """Wraps each update: ``governor.run(tracker.update, frame)``.

    Runs ``probe`` frames at the other count after ``first`` frames, then every ``every``
    frames, and at once when the current count's recent median grows past ``slower`` times
    what it was at the last decision (a competitor started); compares them with the ``probe``
    frames just before at the current count and switches when the other count's median is
    below ``switch`` times the current one. With one core it only calls through.
    """

    def __init__(self, many: int | None = None, every: int = 200, probe: int = 6,
                 first: int = 20, switch: float = 0.9, slower: float = 1.5) -> None:
        self.counts = (many or torch.get_num_threads(), 1)
        self.every, self.probe, self.first, self.switch = every, probe, first, switch
        self.slower = slower
        self.baseline: float | None = None      # median at the current count when decided
        self.current = self.counts[0]
        self.frames = 0                   # frames since the last decision
        self.due = first                  # frames at the current count before the next probe
        self.recent: deque[float] = deque(maxlen=probe)   # seconds of the last frames, current count
        self.trial: list[float] | None = None    # seconds at the other count while probing
        self.switches = 0
        torch.set_num_threads(self.current)

    @property
    def enabled(self) -> bool:
        return self.counts[0] > 1

    def _other(self) -> int:
        return self.counts[1] if self.current == self.counts[0] else self.counts[0]

    def run(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)``, timed, with the thread count the policy chose for this frame."""
        if not self.enabled:
            return fn(*args)
        start = time.perf_counter()
        out = fn(*args)
        self._record(time.perf_counter() - start)
        return out

    def _record(self, seconds: float) -> None:
        if self.trial is not None:                       # probing the other count
            self.trial.append(seconds)
            if len(self.trial) > self.probe:             # the first probe frame is a warm-up
                other, mine = statistics.median(self.trial[1:]), statistics.median(self.recent)
                self.baseline = mine
                if other < self.switch * mine:
                    self.current = self._other()
                    self.switches += 1
                    self.baseline = other
                self.recent.clear()
                self.trial, self.frames, self.due = None, 0, self.every
                torch.set_num_threads(self.current)
            return
        self.recent.append(seconds)
        self.frames += 1
        full = len(self.recent) == self.probe
        slowed = (full and self.baseline is not None
                  and statistics.median(self.recent) > self.slower * self.baseline)
        if full and (self.frames >= self.due or slowed):
            self.trial = []
            torch.set_num_threads(self._other())
