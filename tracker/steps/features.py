"""The features step: the network made ready for inference, crops in and features out."""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

from ..config import TrackerConfig
from ..model.fusion import fold_batchnorm
from ..model.graphs import GraphedBackbone
from ..model.backbones.inverted import InvertedResidualNet
from ..model.network import SiamNet
from ..model.quantize import Int8Backbone, openvino_network, split_calibration
from ..model.openvino import OpenVINOBackbone
from ..model.runtime import check_precision, pick_precision, pick_runtime, resolve_dtype
from ..model.threads import openmp_spins_long, torch_threads


class Features:
    """A ``SiamNet`` for tracking on ``device``: BatchNorm folded into the convolutions, NHWC
    (channels-last) memory, no gradients, the backbones in the chosen precision.

    ``dtype``: ``fp32``, ``bf16`` / ``fp16`` weights and crops, ``int8`` (needs the activation
    ranges in ``calibration``) or ``auto`` (see ``model.runtime.pick_precision``); ``precision``
    says which was chosen. The cross-correlation and everything after it stay fp32 (a bf16
    response map cannot place the peak). ``cuda_graphs``: the backbones replayed from one CUDA
    graph per input shape. ``runtime``: ``torch``, ``openvino`` (the backbones run by OpenVINO,
    fp32, bf16, or int8 with the network ``siamfc quantize --openvino`` adds to the
    calibration, on a CPU; ``model.openvino``) or ``auto`` (``model.runtime.pick_runtime``,
    timed on ``crops`` search crops); ``runtime`` says which was chosen. ``host_threads``: the
    context the tracker's own torch ops run in (one thread beside OpenVINO where OpenMP spins
    long: ``model.threads``).
    """

    def __init__(self, model: SiamNet, cfg: TrackerConfig, device: torch.device, dtype: str = "auto",
                 calibration: dict[str, torch.Tensor] | None = None,
                 cuda_graphs: bool = False, runtime: str = "auto", crops: int = 3) -> None:
        check_precision(dtype)
        self.device = device
        self.model = fold_batchnorm(model).to(device).to(memory_format=torch.channels_last)
        exemplar_cal, search_cal = split_calibration(calibration)
        # the OpenVINO int8 network (one backbone for both crops only)
        network = openvino_network(calibration) if self.model.search_backbone is None else None
        self.precision = pick_precision(dtype, device, self.model.backbone, exemplar_cal,
                                        network, runtime, crops)
        self.dtype = resolve_dtype(self.precision, device)
        self.runtime = pick_runtime(runtime, device, self.precision, self.model.backbone, crops,
                                    network)
        if self.runtime == "openvino":      # fp32 crops in; OpenVINO runs its precision
            self.dtype = torch.float32
            self.model.backbone = OpenVINOBackbone(self.model.backbone, self.precision, network)
            if self.model.search_backbone is not None:
                self.model.search_backbone = OpenVINOBackbone(self.model.search_backbone,
                                                              self.precision)
        for branch in self.model.backbones():
            branch.to(self.dtype)
        if self.precision == "int8" and self.runtime == "torch":
            if calibration is None:
                raise ValueError("int8 needs a calibration: use from_pretrained (it reads "
                                 "<weights>.int8.pth) or pass calibration=")
            separate = self.model.search_backbone is not None
            self.model.backbone = Int8Backbone(
                self.model.backbone, exemplar_cal,
                sizes=[(cfg.exemplar_size,) * 2] + ([] if separate else [(cfg.instance_size,) * 2]))
            if separate:
                if search_cal is None:
                    raise ValueError("this calibration has no search branch; run `siamfc "
                                     "quantize` for these (separate-branch) weights")
                self.model.search_backbone = Int8Backbone(self.model.search_backbone, search_cal,
                                                          sizes=[(cfg.instance_size,) * 2])
        for p in self.model.parameters():
            p.requires_grad_(False)
        self._one_thread = (self.runtime == "openvino" and device.type == "cpu"
                            and openmp_spins_long())
        # the shallow layer that the online model may add: for the inverted-residual
        # backbones run as modules or by OpenVINO (not int8, not graphed)
        net = self.model.search_backbone or self.model.backbone
        self.has_shallow = (isinstance(getattr(net, "inner", net), InvertedResidualNet)
                            and not cuda_graphs)
        if cuda_graphs:
            self.model.backbone = GraphedBackbone(self.model.backbone)
            if self.model.search_backbone is not None:
                self.model.search_backbone = GraphedBackbone(self.model.search_backbone)

    def host_threads(self) -> AbstractContextManager:
        """The tracker's own torch work runs inside this: on one thread where OpenVINO runs the
        backbone on the CPU while torch's OpenMP workers spin long (they would slow it;
        ``model.threads``), else as it is."""
        if self._one_thread:
            return torch_threads(1)
        return nullcontext()

    def _input(self, crops: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) float32 crops in the backbone's precision and channels-last layout."""
        return crops.to(self.dtype).contiguous(memory_format=torch.channels_last)

    def exemplar(self, crops: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) float32 exemplar features of (B, 3, 127, 127) crops."""
        return self.model.features(self._input(crops)).float()

    def search(self, crops: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float32 search features of (B, 3, S, S) crops (the search branch)."""
        return self.model.search_features(self._input(crops)).float()

    def search_layers(self, crops: torch.Tensor) -> list[torch.Tensor]:
        """``[search(crops)]`` and, where the backbone has one (``has_shallow``), its shallow
        layer's (B, C', H, W) float32 features on the same grid, from the same pass."""
        if not self.has_shallow:
            return [self.search(crops)]
        net = self.model.search_backbone or self.model.backbone
        return [m.float() for m in net.forward_layers(self._input(crops))]
