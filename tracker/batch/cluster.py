"""Run jobs as Ray tasks: on a local Ray instance, or on a running cluster given its address.

One task per job; a task whose worker dies is retried by Ray (``max_retries``). Ray is an
optional extra (``pip install -e ".[ray]"``): it is imported only here, only when asked for.
Inputs and outputs must be on storage every node sees (a shared folder).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

RAY_EXTRA = 'pip install -e ".[ray]"'
RETRIES = 3


def require_ray() -> None:
    """``ImportError`` in one line, naming the install, when Ray is not installed."""
    import importlib.util
    if importlib.util.find_spec("ray") is None:
        raise ImportError(f"--ray needs Ray, which is not installed: {RAY_EXTRA}")


def connect(address: str | None = None, num_cpus: int | None = None) -> Any:
    """The ``ray`` module, connected: a new local instance (``address`` None; ``num_cpus`` its
    CPUs, default all), or the running cluster at ``address`` (``auto``, ``ray://host:10001``).
    A connection made before (a test session's) is reused. ``ImportError`` in one line
    without Ray."""
    require_ray()
    import ray
    if not ray.is_initialized():
        if address is None:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    return ray


def run_tasks(fn: Callable[..., Any], calls: Sequence[tuple], address: str | None = None,
              num_cpus: float = 1, num_gpus: float = 0) -> Iterator[tuple[int, Any]]:
    """``fn(*call)`` for each of ``calls`` as Ray tasks of ``num_cpus`` CPUs and ``num_gpus``
    GPUs each (retried when their worker dies); yields (index into ``calls``, result) as they
    finish. An exception raised by ``fn`` is re-raised here (``fn`` should return its errors)."""
    ray = connect(address)
    remote = ray.remote(fn).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=RETRIES)
    pending = {remote.remote(*call): i for i, call in enumerate(calls)}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            yield pending.pop(ref), ray.get(ref)
