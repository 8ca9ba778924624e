"""A busy machine on demand: competitor processes that each keep one core spinning, for
benchmarks of the tracker next to other work (``siamfc bench --load N``). Bounded in time and
ended by the context manager, whatever happens inside it."""
from __future__ import annotations

import multiprocessing
import time
from contextlib import contextmanager
from typing import Iterator


def spin(seconds: float, ready=None) -> None:
    """Keep one core busy for ``seconds`` (pure Python arithmetic, no allocation); ``ready``
    (an Event) is set once spinning."""
    if ready is not None:
        ready.set()
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
    ready = [context.Event() for _ in range(processes)]
    workers = [context.Process(target=spin, args=(seconds, event), daemon=True)
               for event in ready]
    for worker in workers:
        worker.start()
    try:
        for event in ready:        # a spawned process takes seconds to import; time nothing
            event.wait(60)         # before every competitor spins
        yield
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(5)
