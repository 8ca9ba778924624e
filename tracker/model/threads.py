"""torch's intra-op threads around the tracker's own work when another runtime runs the network.

torch's CPU kernels run on GNU OpenMP, whose idle worker threads spin (about 300,000
iterations by default) before they sleep. When OpenVINO runs the backbone on its own
threads right after torch's ops, those spinning workers hold the cores it needs: in the
tracking loop of ``SiamFCTracker`` (library defaults, 2 threads, a 2-core AMD EPYC) the int8
backbone of ``--fast`` took 4.5-5.2 ms an update instead of 2.8-3.0, and the default's three
crops 14.4-15.5 instead of 11.1-11.4. With the OpenVINO runtime the tracker therefore runs
its own torch ops (crops, correlation, the online model, peaks: small arrays, where a second
thread buys little) on one thread, set for each call and restored after
(``Features.host_threads``); OpenVINO keeps the thread count it was compiled with.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

import torch

T = TypeVar("T")


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
