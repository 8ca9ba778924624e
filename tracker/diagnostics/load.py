"""A busy machine on demand: competitor processes that each keep one core spinning, for
benchmarks of the tracker next to other work (``siamfc bench --load N``). Bounded in time and
ended by the context manager, whatever happens inside it."""
from __future__ import annotations

import multiprocessing
import time
from contextlib import contextmanager
from typing import Iterator


def spin(seconds: float) -> None:
    """Keep one core busy for ``seconds`` (pure Python arithmetic, no allocation)."""
    deadline = time.monotonic() + seconds
    x = 0
    while time.monotonic() < deadline:
        for _ in range(10_000):
            x = (x * 31 + 7) & 0xFFFF


@contextmanager
def busy_load(processes: int, seconds: float = 900.0) -> Iterator[None]:
    """``processes`` spinning competitor processes while the block runs (each stops by itself
    after ``seconds`` in any case); they are terminated when the block ends."""
    if processes <= 0:
        yield
        return
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=spin, args=(seconds,), daemon=True)
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.5)            # let them get going before anything is timed
        yield
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(5)
