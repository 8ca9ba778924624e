"""OpenVINO as the backbone's runtime on a CPU (the optional extra: ``pip install
"siamfc[openvino]"``).

The folded fp32 backbone is converted once (``openvino.convert_model`` traces it), for any
batch and crop size, and compiled for latency with as many threads as torch uses. ``bf16``
runs it in bfloat16, meant for CPUs with native bf16 (AVX-512 BF16, AMX; elsewhere the
command line warns that bf16 is emulated). Everything after the backbone (cross-correlation,
online model, peaks) stays torch fp32.

Agreement with torch's features (relative L2 of search features, ``tests/test_openvino.py``):
fp32 within 1e-4 (measured 1e-6), bf16 within 5e-2 (measured 1.5e-2).
"""
from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import torch
from torch import nn

RUNTIMES = ("auto", "torch", "openvino")
PRECISIONS = {"fp32": "f32", "bf16": "bf16"}     # ours -> OpenVINO's inference precision


def openvino_available() -> bool:
    """The ``openvino`` package is installed."""
    return importlib.util.find_spec("openvino") is not None


class _Layers(nn.Module):
    """``forward_layers`` of a backbone as its ``forward`` (what OpenVINO converts)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.backbone.forward_layers(x))


class OpenVINOBackbone(nn.Module):
    """A folded fp32 backbone run by OpenVINO; ``forward`` and (where the backbone has it)
    ``forward_layers`` take and return torch tensors like the backbone's."""

    def __init__(self, backbone: nn.Module, precision: str = "fp32") -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"OpenVINO runs fp32 or bf16, not {precision!r}")
        import openvino      # model.runtime.pick_runtime checks that it is installed
        self._ov = openvino
        self._core = openvino.Core()
        self.inner = backbone.float().eval()
        self.precision = precision
        self._request = None

    @property
    def has_layers(self) -> bool:
        """The backbone gives its shallow layer too (``forward_layers``)."""
        return callable(getattr(self.inner, "forward_layers", None))

    def _compile(self):
        """The infer request: the backbone (its ``forward_layers`` where it has them) converted
        once for any batch and crop size, compiled for latency."""
        module = _Layers(self.inner) if self.has_layers else self.inner
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")      # the tracing's deprecation notes, not ours
            model = self._ov.convert_model(module, example_input=torch.zeros(1, 3, 127, 127),
                                           input=[(-1, 3, -1, -1)])
        compiled = self._core.compile_model(model, "CPU", {
            "INFERENCE_PRECISION_HINT": PRECISIONS[self.precision],
            "INFERENCE_NUM_THREADS": torch.get_num_threads(),
            "PERFORMANCE_HINT": "LATENCY"})
        return compiled.create_infer_request()

    def _run(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self._request is None:
            self._request = self._compile()
        outputs = self._request.infer([np.ascontiguousarray(x.detach().float().cpu().numpy())])
        # the request reuses its output buffers: copy them out
        return [torch.from_numpy(np.array(outputs[i], copy=True)) for i in range(len(outputs))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) BGR 0-255 crops -> (B, C, h, w) float32 features."""
        return self._run(x)[0]

    def forward_layers(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's ``forward_layers``: [features, shallow layer]."""
        if not self.has_layers:
            raise AttributeError(f"{type(self.inner).__name__} has no forward_layers")
        return self._run(x)
