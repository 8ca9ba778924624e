"""Where and in what precision the network runs: device choice, what this CPU can run fast,
and the backbone precision (``fp32``, ``bf16``, ``fp16`` on CUDA, ``int8`` on x86, ``auto``)."""
from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class CPUInfo:
    """What the tracker needs to know of this machine's CPU."""

    name: str           # model name, e.g. "AMD EPYC" or "Intel(R) Xeon(R) Platinum 8488C"
    capability: str     # torch's kernel level: "AVX512", "AVX2", "DEFAULT" (no AVX2), ...
    avx2: bool          # x86 AVX2: torch's fast int8 (fbgemm/oneDNN) kernels run
    vnni: bool          # AVX-512 VNNI or AVX-VNNI: int8 multiply-adds in one instruction
    bf16: bool          # AVX-512 BF16 or AMX: native bfloat16 (else emulated, slower than fp32)

    def describe(self) -> str:
        """``"AMD EPYC (AVX2; no VNNI, no BF16)"``: the name and what matters for precision."""
        extras = ", ".join(f"{'' if on else 'no '}{what}" for what, on in
                           (("VNNI", self.vnni), ("BF16", self.bf16)))
        return f"{self.name} ({self.capability}; {extras})"


def _cpu_flags_and_name() -> tuple[set[str], str]:
    """(/proc/cpuinfo flags, model name); empty and ``platform.processor()`` elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return set(), platform.processor() or platform.machine() or "unknown CPU"
    flags: set[str] = set()
    name = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("flags", "features") and not flags:
            flags = set(value.split())
        elif key in ("model name", "cpu model", "hardware") and not name:
            name = " ".join(value.split())
    return flags, name or platform.processor() or platform.machine() or "unknown CPU"


def _torch_cpu_check(name: str) -> bool | None:
    """torch's own CPU feature probe ``torch.cpu._is_<name>_supported`` when it has one."""
    probe = getattr(torch.cpu, f"_is_{name}_supported", None)
    try:
        return bool(probe()) if probe is not None else None
    except Exception:      # a probe that fails on this platform counts as unknown
        return None


@functools.lru_cache(maxsize=1)
def cpu_info() -> CPUInfo:
    """This machine's CPU (read once): name, torch's capability and the precision features."""
    flags, name = _cpu_flags_and_name()

    def has(probe: str, *names: str) -> bool:
        found = _torch_cpu_check(probe)
        return found if found is not None else any(n in flags for n in names)

    return CPUInfo(name=name, capability=torch.backends.cpu.get_cpu_capability(),
                   avx2=has("avx2", "avx2"), vnni=has("vnni", "avx512_vnni", "avx_vnni"),
                   bf16=has("avx512_bf16", "avx512_bf16") or has("amx_tile", "amx_bf16"))


def describe_device(device: torch.device) -> str:
    """The device as people know it: the CPU's name and features, or the GPU's name."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu: {cpu_info().describe()}"


def int8_pays(info: CPUInfo | None = None) -> bool:
    """int8 beats fp32 on this CPU: x86 with AVX2 at least (measured: AlexNet 3x with AVX-512
    VNNI, 1.6x with AVX2 only; without AVX2 torch's int8 kernels fall back to slow paths)."""
    info = info or cpu_info()
    return int8_available() and info.avx2


def precision_warning(precision: str, device: torch.device) -> str | None:
    """Why ``precision`` runs slowly on ``device``, in one line; None when it runs well."""
    if device.type != "cpu":
        return None
    info = cpu_info()
    if precision == "bf16" and not info.bf16:
        return (f"bf16 is emulated on this CPU, {info.describe()}, and runs slower than "
                "fp32; use --dtype auto (int8 where it pays) or fp32")
    if precision == "int8" and not info.avx2:
        return (f"int8 has no fast kernels on this CPU, {info.describe()}, and may run "
                "slower than fp32; use --dtype auto or fp32")
    return None


def check_precision(dtype: str) -> None:
    """A ``ValueError`` unless ``dtype`` is one of ``PRECISIONS``."""
    if dtype not in PRECISIONS:
        raise ValueError(f"dtype must be one of {list(PRECISIONS)}, got {dtype!r}")


def pick_precision(dtype: str, device: torch.device, backbone: nn.Module,
                   calibration: dict[str, torch.Tensor] | None,
                   network: tuple[bytes, bytes] | None = None, runtime: str = "auto",
                   crops: int = 3) -> str:
    """The concrete precision for ``dtype``: itself, or for ``auto`` ``fp32`` unless this is an
    x86 CPU with AVX2 or better and the calibration's fingerprint matches ``backbone``
    (folded); then ``int8`` if it measures at least 5% faster than fp32 on this machine
    (``timing.faster_precision``, cached; with ``SIAMFC_AUTO_PRECISION=rule`` where torch's
    int8 engine is, without measuring). A calibration that carries an OpenVINO int8
    ``network`` is used by ``auto`` through OpenVINO only (where it is installed, ``runtime``
    allows it and timing is on): the network on ``crops`` search crops against the faster fp32
    runtime (``timing.faster_openvino_int8``); torch's int8 of such weights only when asked."""
    if dtype != "auto":
        return dtype
    if not (device.type == "cpu" and calibration is not None and cpu_info().avx2
            and calibration_fits(backbone, calibration)):
        return "fp32"
    from . import timing
    from .openvino import openvino_available
    if network is not None:
        if runtime == "torch" or not (openvino_available() and timing.timing_enabled()):
            return "fp32"
        return timing.faster_openvino_int8(backbone, network, cpu_info().describe(), crops=crops)
    if not int8_pays():
        return "fp32"
    if not timing.timing_enabled():
        return "int8"
    return timing.faster_precision(backbone, calibration, cpu_info().describe())


def pick_runtime(runtime: str, device: torch.device, precision: str, backbone: nn.Module,
                 crops: int = 3, network: tuple[bytes, bytes] | None = None) -> str:
    """The concrete runtime of the backbone for ``runtime``: ``torch``; ``openvino`` (a CPU,
    fp32, bf16, or int8 with the quantized ``network``, the package installed, else a
    ``ValueError``); or for ``auto``: int8 in OpenVINO where there is the ``network`` (torch
    runs int8 from the calibration otherwise), else OpenVINO where it is installed and
    measures faster on ``crops`` search crops of this CPU (``timing.faster_runtime``, cached),
    else torch (always torch with ``SIAMFC_AUTO_PRECISION=rule``)."""
    from .openvino import RUNTIMES, openvino_available
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {list(RUNTIMES)}, got {runtime!r}")
    if runtime == "torch":
        return "torch"
    cpu = device.type == "cpu"
    fits = cpu and (precision in ("fp32", "bf16") or (precision == "int8" and network is not None))
    if runtime == "openvino":
        if cpu and precision == "int8" and network is None:
            raise ValueError("OpenVINO int8 needs the weights' quantized network: make it with "
                             "`siamfc quantize --openvino`, or use --runtime torch")
        if not fits:
            raise ValueError(f"the OpenVINO runtime runs fp32, bf16 or int8 on the CPU, not "
                             f"{precision} on {device}; use --runtime torch")
        if not openvino_available():
            raise ValueError("the OpenVINO runtime needs the openvino package: "
                             'pip install "siamfc[openvino]", or use --runtime torch')
        return "openvino"
    from . import timing
    if not (fits and openvino_available() and timing.timing_enabled()):
        return "torch"
    if precision == "int8":
        return "openvino"
    return timing.faster_runtime(backbone, precision, cpu_info().describe(), crops=crops)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``fp32`` | ``bf16`` | ``fp16`` | ``int8`` -> dtype of the crops fed to the backbone;
    fp16 needs CUDA, int8 the CPU."""
    check_precision(dtype)
    if dtype == "auto":
        raise ValueError("resolve dtype auto with pick_precision first")
    if dtype == "fp16" and device.type != "cuda":
        raise ValueError("fp16 inference needs a CUDA device; on the CPU use auto (int8 where it "
                         "pays), fp32, or bf16 on CPUs with AVX-512 BF16 or AMX")
    if dtype == "int8" and device.type != "cpu":
        raise ValueError("int8 inference runs on the CPU only; use fp16 on CUDA")
    return DTYPES.get(dtype, torch.float32)
