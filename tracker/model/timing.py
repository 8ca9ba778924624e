"""``auto`` precision and runtime by measurement: on CPUs where int8 may or may not beat fp32 (AVX2 without
VNNI: measured 1.6x faster on one AMD EPYC, 1.3x slower on another), time both backbones once
on this machine's search crops and keep the faster, cached per CPU, torch, threads and weights;
likewise torch or OpenVINO (where it is installed) for the backbone's runtime.

The cache is ``precision.json`` in ``$SIAMFC_CACHE_DIR`` (default ``$XDG_CACHE_HOME/siamfc`` or
``~/.cache/siamfc``); delete it to measure again. ``SIAMFC_AUTO_PRECISION=rule`` skips the
timing and uses the CPU rule alone (int8 on x86 with AVX2; the torch runtime). Where the
weights' calibration carries an OpenVINO int8 network, int8 means that network, timed against
the faster fp32 runtime.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .quantize import FINGERPRINT_KEY, Int8Backbone

MODE_VARIABLE = "SIAMFC_AUTO_PRECISION"       # "time" (default) or "rule"
CACHE_FILE = "precision.json"
INT8_MARGIN = 0.95      # int8 (or OpenVINO) only when at most 95% of the reference's time


def prefer(candidate: str, reference: str) -> Callable[[dict[str, float]], str]:
    """The rule on measured seconds: ``candidate`` when it takes at most ``INT8_MARGIN`` (95%)
    of ``reference``'s time, else ``reference``."""
    return lambda s: candidate if s[candidate] <= INT8_MARGIN * s[reference] else reference


def cache_dir() -> Path:
    """Where per-machine measurements are kept."""
    explicit = os.environ.get("SIAMFC_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "siamfc"


def timing_enabled() -> bool:
    mode = os.environ.get(MODE_VARIABLE, "time").strip().lower()
    if mode not in ("time", "rule"):
        raise ValueError(f"{MODE_VARIABLE} must be 'time' or 'rule', got {mode!r}")
    return mode == "time"


def time_backbone(module: nn.Module, size: int, crops: int = 3, repeats: int = 5,
                  dtype: torch.dtype | None = None) -> float:
    """Median seconds of ``module`` on ``crops`` random (crops, 3, size, size) channels-last
    crops (float32, or ``dtype``), after two warm-up passes."""
    x = (torch.rand(crops, 3, size, size) * 255).to(dtype or torch.float32).contiguous(
        memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 2):
            start = time.perf_counter()
            module(x)
            if i >= 2:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(backbone: nn.Module, calibration: dict[str, torch.Tensor], size: int,
            crops: int) -> dict[str, float]:
    """Seconds per pass of the folded fp32 ``backbone`` and of its int8 version."""
    fp32 = backbone.float().eval()
    int8 = Int8Backbone(backbone, calibration, sizes=[(size, size)])
    return {"fp32": time_backbone(fp32, size, crops), "int8": time_backbone(int8, size, crops)}


def cache_key(cpu: str, calibration: dict[str, torch.Tensor], size: int, crops: int) -> str:
    fingerprint = bytes(calibration[FINGERPRINT_KEY].to(torch.uint8).tolist()).hex()[:16]
    return (f"{cpu} | torch {torch.__version__} | {torch.get_num_threads()} threads | "
            f"weights {fingerprint} | {crops}x{size}px")


def faster_precision(backbone: nn.Module, calibration: dict[str, torch.Tensor], cpu: str,
                     size: int = 255, crops: int = 3,
                     measure_fn: Callable[..., dict[str, float]] | None = None) -> str:
    """``int8`` or ``fp32``, whichever runs ``crops`` search crops faster on this CPU (int8
    needs to be at least 5% faster), from the cache or measured now (about 10 backbone passes
    of each) and stored."""
    return cached_choice(
        cache_key(cpu, calibration, size, crops), "precision",
        lambda: (measure_fn or measure)(backbone, calibration, size, crops),
        prefer("int8", "fp32"), ("int8", "fp32"))


def measure_runtimes(backbone: nn.Module, precision: str, size: int,
                     crops: int) -> dict[str, float]:
    """Seconds per pass of the folded fp32 ``backbone`` in torch and in OpenVINO at
    ``precision`` (torch runs bf16 too when that is asked)."""
    from .openvino import OpenVINOBackbone
    own = copy.deepcopy(backbone).float().eval()
    ov = OpenVINOBackbone(own, precision)
    if precision == "bf16":
        own = copy.deepcopy(own).to(torch.bfloat16)
    return {"torch": time_backbone(own, size, crops,
                                   dtype=torch.bfloat16 if precision == "bf16" else None),
            "openvino": time_backbone(ov, size, crops)}


def runtime_key(cpu: str, backbone: nn.Module, precision: str, size: int, crops: int) -> str:
    import openvino
    shape = f"{type(backbone).__name__}/{sum(p.numel() for p in backbone.parameters())}"
    return (f"runtime | {cpu} | torch {torch.__version__} | openvino {openvino.__version__} | "
            f"{torch.get_num_threads()} threads | {shape} {precision} | {crops}x{size}px")


def faster_runtime(backbone: nn.Module, precision: str, cpu: str, size: int = 255,
                   crops: int = 3,
                   measure_fn: Callable[..., dict[str, float]] | None = None) -> str:
    """``openvino`` or ``torch``, whichever runs ``crops`` search crops of the folded
    ``backbone`` faster at ``precision`` on this CPU (OpenVINO needs to be at least 5% faster),
    from the cache or measured now and stored."""
    return cached_choice(
        runtime_key(cpu, backbone, precision, size, crops), "runtime",
        lambda: (measure_fn or measure_runtimes)(backbone, precision, size, crops),
        prefer("openvino", "torch"), ("openvino", "torch"))


def measure_openvino_int8(backbone: nn.Module, network: tuple[bytes, bytes], size: int,
                          crops: int) -> dict[str, float]:
    """Seconds per pass of the folded fp32 ``backbone`` (the faster of torch and OpenVINO)
    and of its OpenVINO int8 ``network``."""
    from .openvino import OpenVINOBackbone
    seconds = measure_runtimes(backbone, "fp32", size, crops)
    int8 = OpenVINOBackbone(copy.deepcopy(backbone).float().eval(), "int8", network)
    return {"fp32": min(seconds.values()), "int8": time_backbone(int8, size, crops)}


def faster_openvino_int8(backbone: nn.Module, network: tuple[bytes, bytes], cpu: str,
                         size: int = 255, crops: int = 3,
                         measure_fn: Callable[..., dict[str, float]] | None = None) -> str:
    """``int8`` (the OpenVINO ``network``) or ``fp32``, whichever runs ``crops`` search crops
    faster on this CPU (int8 at least 5% faster than fp32 in its faster runtime), from the
    cache or measured now and stored."""
    key = runtime_key(cpu, backbone, f"int8 network {hashlib.sha256(network[1]).hexdigest()[:16]}",
                      size, crops)
    return cached_choice(
        key, "precision",
        lambda: (measure_fn or measure_openvino_int8)(backbone, network, size, crops),
        prefer("int8", "fp32"), ("int8", "fp32"))


def cached_choice(key: str, field: str, measure_now: Callable[[], dict[str, float]],
                  decide: Callable[[dict[str, float]], str], allowed: tuple[str, ...]) -> str:
    """The ``field`` choice cached under ``key``, or ``decide`` on the seconds measured now
    (stored with them)."""
    path = cache_dir() / CACHE_FILE
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    if not isinstance(cached, dict):
        cached = {}
    entry = cached.get(key)
    if isinstance(entry, dict) and entry.get(field) in allowed:
        return entry[field]
    seconds = measure_now()
    choice = decide(seconds)
    cached[key] = {field: choice, "ms": {k: round(v * 1e3, 2) for k, v in seconds.items()},
                   "measured": time.strftime("%Y-%m-%d %H:%M")}
    try:       # a cache that cannot be written only means measuring again next time
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cached, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
    return choice
