"""The siamese network: a shared backbone followed by the cross-correlation head."""
from __future__ import annotations

import torch
from torch import nn

from .backbones import build_backbone
from .heads import XCorrHead


class SiamNet(nn.Module):
    """f(z, x) = adjust * (phi(z) * phi(x)), with phi a registered backbone.

    ``backbone`` is a registry name or an ``nn.Module`` with stride 8 and no padding.
    """

    def __init__(self, backbone: str | nn.Module = "alexnet", adjust: float = 0.001) -> None:
        super().__init__()
        self.backbone_name = backbone if isinstance(backbone, str) else type(backbone).__name__
        self.backbone = build_backbone(backbone) if isinstance(backbone, str) else backbone
        self.head = XCorrHead(adjust)

    def features(self, crops: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) BGR 0-255 crops -> (B, C, h, w) features."""
        return self.backbone(crops)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 127, 127) exemplars and (N*K, 3, 255, 255) searches -> (N*K, 1, 17, 17)."""
        return self.head(self.features(z), self.features(x))


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal convolutions, unit BatchNorm (training from scratch)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
