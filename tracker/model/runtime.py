"""Where and in what precision the network runs: device choice and backbone precision
(``fp32``, ``bf16``, ``fp16`` on CUDA, ``int8`` on x86 CPUs, or ``auto``)."""
from __future__ import annotations

import torch
from torch import nn

from .quantize import calibration_fits, int8_available

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# int8: quantized backbone fed fp32 crops (see quantize.py); auto: int8 on a CPU when the weights
# come with a calibration made for them, else fp32
PRECISIONS = ("auto", *DTYPES, "int8")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; asking for absent CUDA is a ``ValueError``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here; use cpu or auto")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; use auto, cpu, cuda or cuda:N")
    return dev


def check_precision(dtype: str) -> None:
    """A ``ValueError`` unless ``dtype`` is one of ``PRECISIONS``."""
    if dtype not in PRECISIONS:
        raise ValueError(f"dtype must be one of {list(PRECISIONS)}, got {dtype!r}")


def pick_precision(dtype: str, device: torch.device, backbone: nn.Module,
                   calibration: dict[str, torch.Tensor] | None) -> str:
    """The concrete precision for ``dtype``: itself, or for ``auto`` ``int8`` on a CPU with the
    x86 engine and a calibration whose fingerprint matches ``backbone`` (folded), else ``fp32``."""
    if dtype != "auto":
        return dtype
    if (device.type == "cpu" and calibration is not None and int8_available()
            and calibration_fits(backbone, calibration)):
        return "int8"
    return "fp32"


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``fp32`` | ``bf16`` | ``fp16`` | ``int8`` -> dtype of the crops fed to the backbone;
    fp16 needs CUDA, int8 the CPU."""
    check_precision(dtype)
    if dtype == "auto":
        raise ValueError("resolve dtype auto with pick_precision first")
    if dtype == "fp16" and device.type != "cuda":
        raise ValueError("fp16 inference needs a CUDA device; use bf16 or fp32 on the CPU")
    if dtype == "int8" and device.type != "cpu":
        raise ValueError("int8 inference runs on the CPU only; use fp16 on CUDA")
    return DTYPES.get(dtype, torch.float32)
