"""torch's intra-op threads around the tracker's own work when another runtime runs the network.

torch's CPU kernels run on GNU OpenMP, whose idle worker threads spin (about 300,000
iterations by default) before they sleep. When OpenVINO runs the backbone on its own
threads right after torch's ops, those spinning workers hold the cores it needs (the int8
``--fast`` backbone: 2.3 ms a call alone, 4.2 with a two-thread torch op between calls, on
a 2-core AMD EPYC). So with the OpenVINO runtime, while OpenMP's workers spin long
(``openmp_spins_long``: OpenMP's defaults, as in a library user's program), the tracker runs
its own torch ops (crops, correlation, the online model, peaks) on one thread, set for each
call and restored after (``Features.host_threads``); OpenVINO keeps the thread count it was
compiled with. Where the spin is short, as the command line sets it (``cli/openmp.py``),
torch keeps its threads: there one thread made the default's update 1-2 ms slower. The
figures: docs/speed.md, "Beside OpenVINO".
"""
from __future__ import annotations

import functools
import os
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

import torch

T = TypeVar("T")
LONG_SPIN = 100_000      # GOMP_SPINCOUNT above this counts as long (OpenMP's default: 300,000)


def openmp_spins_long(environ: dict[str, str] | None = None) -> bool:
    """Whether torch's idle OpenMP workers spin long, from ``OMP_WAIT_POLICY`` and
    ``GOMP_SPINCOUNT`` (as the environment had them when torch loaded): OpenMP's default
    (neither set), ``ACTIVE``, or a count above ``LONG_SPIN`` (or one that does not parse)."""
    env = os.environ if environ is None else environ
    policy = env.get("OMP_WAIT_POLICY", "").strip().upper()
    if policy in ("ACTIVE", "PASSIVE"):
        return policy == "ACTIVE"
    count = env.get("GOMP_SPINCOUNT")
    if count is None:
        return True
    try:
        return float(count) > LONG_SPIN
    except ValueError:
        return True     # "infinite", or anything else OpenMP may read as long


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``count`` inside the block, restored after."""
    before = torch.get_num_threads()
    if before == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def on_host_threads(method: Callable[..., T]) -> Callable[..., T]:
    """A tracker method run inside ``self.features.host_threads()``."""
    @functools.wraps(method)
    def wrapped(self, *args, **kwargs) -> T:
        with self.features.host_threads():
            return method(self, *args, **kwargs)
    return wrapped
