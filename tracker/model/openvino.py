"""OpenVINO as the backbone's runtime on a CPU (the optional extra: ``pip install
"siamfc[openvino]"``).

The folded fp32 backbone is converted once (``openvino.convert_model`` traces it), for any
batch and crop size, and compiled for latency with as many threads as torch uses when it is
made (the tracker may then run its own torch ops on one thread: ``model.threads``); it
takes the crops channels-last (NHWC), as the tracker cuts them, without a copy. ``bf16``
runs it in bfloat16, meant for CPUs with native bf16 (AVX-512 BF16, AMX; elsewhere the
command line warns that bf16 is emulated). Everything after the backbone (cross-correlation,
online model, peaks) stays torch fp32.

``int8`` runs a network quantized once per weights file by ``siamfc quantize --openvino``
(``quantize_network``: NNCF's post-training quantization of this same conversion on
calibration crops, the optional ``openvino-quantize`` extra; only making the network needs
NNCF, running it needs OpenVINO alone); the network is kept in the weights' calibration file
(``<weights>.int8.pth``, see ``quantize.py``) as the bytes of OpenVINO's IR.

Agreement with torch's features (relative L2 of search features, ``tests/test_openvino.py``):
fp32 within 1e-4 (measured 1e-6), bf16 within 5e-2 (measured 1.5e-2), int8 within 0.35 on
random weights. The shipped networks on the tracker's search crops of training frames: int8
0.27-0.36 (bf16 0.13-0.18), with otb-dev AUC unchanged (``weights/README.md``).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import warnings

import numpy as np
import torch
from torch import nn

RUNTIMES = ("auto", "torch", "openvino")
# ours -> OpenVINO's inference precision (int8: the quantized layers in int8, the rest fp32)
PRECISIONS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
NNCF_INSTALL = 'pip install "siamfc[openvino-quantize]"'


def openvino_available() -> bool:
    """The ``openvino`` package is installed."""
    return importlib.util.find_spec("openvino") is not None


def quantizer_available() -> bool:
    """``quantize_network`` can run: NNCF and OpenVINO are installed."""
    return openvino_available() and importlib.util.find_spec("nncf") is not None


class _Layers(nn.Module):
    """``forward_layers`` of a backbone as its ``forward`` (what OpenVINO converts)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.backbone.forward_layers(x))


def _converted(openvino, backbone: nn.Module):
    """OpenVINO's model of ``backbone`` (its ``forward_layers`` where it has them), for any
    batch and crop size."""
    module = _Layers(backbone) if callable(getattr(backbone, "forward_layers", None)) else backbone
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the tracing's deprecation notes, not ours
        return openvino.convert_model(module, example_input=torch.zeros(1, 3, 127, 127),
                                      input=[(-1, 3, -1, -1)])


class OpenVINOBackbone(nn.Module):
    """A folded fp32 backbone run by OpenVINO; ``forward`` and (where the backbone has it)
    ``forward_layers`` take and return torch tensors like the backbone's. ``int8`` runs
    ``network``, the (xml, bin) IR bytes of the quantized backbone (``quantize_network``), on
    ``threads``: torch's thread count when it is made."""

    def __init__(self, backbone: nn.Module, precision: str = "fp32",
                 network: tuple[bytes, bytes] | None = None) -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"OpenVINO runs fp32, bf16 or int8, not {precision!r}")
        if precision == "int8" and network is None:
            raise ValueError("OpenVINO int8 needs the quantized network of these weights: "
                             "make it with `siamfc quantize --openvino`")
        import openvino      # model.runtime.pick_runtime checks that it is installed
        self._ov = openvino
        self._core = openvino.Core()
        self.inner = backbone.float().eval()
        self.precision = precision
        self._network = network if precision == "int8" else None
        # fixed now: the tracker may run its own torch ops on one thread (``model.threads``)
        self.threads = torch.get_num_threads()
        self._request = None
        self._outputs = 0          # the compiled model's output count

    @property
    def has_layers(self) -> bool:
        """The backbone gives its shallow layer too (``forward_layers``)."""
        return callable(getattr(self.inner, "forward_layers", None))

    def _compile(self):
        """The infer request: the backbone converted once for any batch and crop size (or the
        quantized network read back), compiled for latency."""
        if self._network is not None:
            xml, weights = self._network
            model = self._core.read_model(xml.decode("utf-8"),
                                          self._ov.Tensor(np.frombuffer(weights, np.uint8)))
        else:
            model = _converted(self._ov, self.inner)
        # the crops come channels-last (the tracker cuts them so): the model takes them as
        # they are, NHWC, and transposes inside, instead of a copy to NCHW on the host
        steps = self._ov.preprocess.PrePostProcessor(model)
        steps.input().tensor().set_layout(self._ov.Layout("NHWC"))
        steps.input().model().set_layout(self._ov.Layout("NCHW"))
        compiled = self._core.compile_model(steps.build(), "CPU", {
            "INFERENCE_PRECISION_HINT": PRECISIONS[self.precision],
            "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": "LATENCY"})
        self._outputs = len(compiled.outputs)
        return compiled.create_infer_request()

    def _run(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self._request is None:
            self._request = self._compile()
        request = self._request
        # NHWC: a view of channels-last crops (a copy only for crops in another layout)
        crops = np.ascontiguousarray(x.detach().float().cpu().permute(0, 2, 3, 1).numpy())
        # the crops' memory as the input, without the copy and the type dispatch of
        # ``infer(inputs)`` (0.05-0.13 ms a call on a 2-core AMD EPYC)
        request.set_input_tensor(self._ov.Tensor(crops, shared_memory=True))
        request.infer()
        # the request reuses its output buffers: copy them out
        return [torch.from_numpy(request.get_output_tensor(i).data.copy())
                for i in range(self._outputs)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) BGR 0-255 crops -> (B, C, h, w) float32 features."""
        return self._run(x)[0]

    def forward_layers(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's ``forward_layers``: [features, shallow layer]."""
        if not self.has_layers:
            raise AttributeError(f"{type(self.inner).__name__} has no forward_layers")
        return self._run(x)


def quantize_network(backbone: nn.Module, batches) -> tuple[bytes, bytes]:
    """The (xml, bin) OpenVINO IR of the folded ``backbone`` quantized to int8 by NNCF's
    post-training quantization (per-channel weights, activation ranges and bias correction
    from the (B, 3, S, S) float BGR crops of ``batches``): what ``OpenVINOBackbone`` runs in
    int8. Needs the ``nncf`` package."""
    import tempfile
    from pathlib import Path

    if not quantizer_available():
        raise ImportError("making an OpenVINO int8 network needs NNCF and OpenVINO: "
                          + NNCF_INSTALL)
    import nncf
    import openvino
    samples = [np.ascontiguousarray(x[i:i + 1].float().numpy()) for x in batches
               for i in range(len(x))]
    if not samples:
        raise ValueError("quantizing needs at least one calibration crop")
    model = _converted(openvino, backbone.float().eval())
    quiet = io.StringIO()      # NNCF draws its own progress bars: library code prints nothing
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), \
            contextlib.redirect_stderr(quiet):
        warnings.simplefilter("ignore")
        quantized = nncf.quantize(model, nncf.Dataset(samples), subset_size=len(samples))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "network.xml"
        openvino.save_model(quantized, path, compress_to_fp16=False)
        return path.read_bytes(), path.with_suffix(".bin").read_bytes()
