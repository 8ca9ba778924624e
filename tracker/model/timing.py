"""``auto`` precision by measurement: on CPUs where int8 may or may not beat fp32 (AVX2 without
VNNI: measured 1.6x faster on one AMD EPYC, 1.3x slower on another), time both backbones once
on this machine's search crops and keep the faster, cached per CPU, torch, threads and weights.

The cache is ``precision.json`` in ``$SIAMFC_CACHE_DIR`` (default ``$XDG_CACHE_HOME/siamfc`` or
``~/.cache/siamfc``); delete it to measure again. ``SIAMFC_AUTO_PRECISION=rule`` skips the
timing and uses the CPU rule alone (int8 on x86 with AVX2).
"""
from __future__ import annotations

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
INT8_MARGIN = 0.95      # int8 only when at most 95% of fp32's time: fp32 is the reference


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


def time_backbone(module: nn.Module, size: int, crops: int = 3, repeats: int = 5) -> float:
    """Median seconds of ``module`` on ``crops`` random (crops, 3, size, size) channels-last
    float crops, after two warm-up passes."""
    x = (torch.rand(crops, 3, size, size) * 255).contiguous(memory_format=torch.channels_last)
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
    key = cache_key(cpu, calibration, size, crops)
    path = cache_dir() / CACHE_FILE
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    if not isinstance(cached, dict):
        cached = {}
    entry = cached.get(key)
    if isinstance(entry, dict) and entry.get("precision") in ("int8", "fp32"):
        return entry["precision"]
    seconds = (measure_fn or measure)(backbone, calibration, size, crops)
    choice = "int8" if seconds["int8"] <= INT8_MARGIN * seconds["fp32"] else "fp32"
    cached[key] = {"precision": choice, "ms": {k: round(v * 1e3, 2) for k, v in seconds.items()},
                   "measured": time.strftime("%Y-%m-%d %H:%M")}
    try:       # a cache that cannot be written only means measuring again next time
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cached, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass
    return choice
