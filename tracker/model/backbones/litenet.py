"""LiteNet: a depthwise-separable backbone (registered as ``mobile``; not shipped)."""
from __future__ import annotations

import torch
from torch import nn

from .layers import conv_bn_relu
from .registry import register_backbone


def _separable(cin: int, cout: int, k: int, stride: int = 1, last: bool = False) -> nn.Sequential:
    """Depthwise k x k (+BN+ReLU) then pointwise 1x1 (+BN+ReLU unless ``last``)."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cin, k, stride, groups=cin, bias=True),
        nn.BatchNorm2d(cin, eps=1e-5, momentum=0.05),
        nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=True),
    ]
    if not last:
        layers += [nn.BatchNorm2d(cout, eps=1e-5, momentum=0.05), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class LiteNet(nn.Module):
    """A depthwise-separable backbone for real time on a CPU, same contract as ``AlexNet``.

    stem conv 7x7/2 (16), then depthwise-separable blocks 5x5/2 (32), 3x3/2 (64), and four
    3x3 (96, 128, 128, 256), channels times ``width``. No padding, total stride 8 and a
    receptive field of 87 px as in AlexNet (7 + 4*2 + 2*4 + 4*2*8), so a 127 crop gives
    6x6 features and a 255 crop 22x22. About 0.1 GMAC per 255 crop (AlexNet: 2.7).
    """

    out_channels = 256
    total_stride = 8

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        c = [max(8, int(round(v * width))) for v in (16, 32, 64, 96, 128, 128)]
        self.stem = conv_bn_relu(3, c[0], 7, 2)
        self.blocks = nn.Sequential(
            _separable(c[0], c[1], 5, 2),
            _separable(c[1], c[2], 3, 2),
            _separable(c[2], c[3], 3),
            _separable(c[3], c[4], 3),
            _separable(c[4], c[5], 3),
            _separable(c[5], self.out_channels, 3, last=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 256, (H - 87) / 8 + 1, same for W)."""
        return self.blocks(self.stem(x))


@register_backbone("mobile")
def mobile() -> nn.Module:
    """``LiteNet`` (about 80 k parameters, a thirtieth of AlexNet's multiply-adds)."""
    return LiteNet(1.0)
