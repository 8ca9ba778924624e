"""Backbones: fully-convolutional feature extractors shared by exemplar and search crops.

All backbones take ``(B, 3, H, W)`` float BGR pixels in [0, 255] and have no padding and
total stride 8, so a 127 crop gives 6x6 features and a 255 crop gives 22x22.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

BACKBONES: dict[str, Callable[[], nn.Module]] = {}


def register_backbone(name: str) -> Callable[[Callable[[], nn.Module]], Callable[[], nn.Module]]:
    """Decorator adding a backbone constructor to the registry under ``name``."""

    def wrap(ctor: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        BACKBONES[name] = ctor
        return ctor

    return wrap


def build_backbone(name: str) -> nn.Module:
    """Instantiate a registered backbone by name."""
    try:
        return BACKBONES[name]()
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}") from None


def _conv_bn_relu(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, groups=groups, bias=True),
        nn.BatchNorm2d(cout, eps=1e-5, momentum=0.05),
        nn.ReLU(inplace=True),
    )


class AlexNet(nn.Module):
    """The SiamFC AlexNet (Bertinetto et al. 2016, table 1).

    conv1 11x11/2 96, pool 3/2, conv2 5x5 256 (2 groups), pool 3/2, conv3 3x3 384,
    conv4 3x3 384 (2 groups), conv5 3x3 256 (2 groups); BN+ReLU after conv1-4, none after conv5.
    ``channels`` (conv1-4), ``out_channels`` (conv5) and ``conv1_kernel`` make the lighter
    variants registered below.
    """

    total_stride = 8

    def __init__(self, channels: tuple[int, int, int, int] = (96, 256, 384, 384),
                 out_channels: int = 256, conv1_kernel: int = 11) -> None:
        super().__init__()
        c1, c2, c3, c4 = channels
        self.out_channels = out_channels
        self.conv1 = nn.Sequential(_conv_bn_relu(3, c1, conv1_kernel, 2), nn.MaxPool2d(3, 2))
        self.conv2 = nn.Sequential(_conv_bn_relu(c1, c2, 5, groups=2), nn.MaxPool2d(3, 2))
        self.conv3 = _conv_bn_relu(c2, c3, 3)
        self.conv4 = _conv_bn_relu(c3, c4, 3, groups=2)
        self.conv5 = nn.Conv2d(c4, out_channels, 3, groups=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, out_channels, (H - 87) / 8 + 1, same for W) with the 11 px conv1
        (floor division: a 7 px conv1 gives the same sizes for 127 and 255 px crops)."""
        x = self.conv1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.conv4(x)
        return self.conv5(x)


@register_backbone("alexnet")
def alexnet() -> nn.Module:
    """The paper's AlexNet (about 2.3 M parameters)."""
    return AlexNet()


@register_backbone("alexnet_half")
def alexnet_half() -> nn.Module:
    """AlexNet at half width (0.7 M parameters, a third of the multiply-adds)."""
    return AlexNet(channels=(48, 128, 192, 192))


@register_backbone("alexnet_slim")
def alexnet_slim() -> nn.Module:
    """AlexNet slimmed for int8 on a CPU (0.39 M parameters): conv1 7x7 with 32 channels
    (torch's quantized max-pool is fast for multiples of 32 channels, slow for 48), then
    96-160-160 and a 128-channel output. Stride 8; receptive field 83 px; 6x6 features for a
    127 crop and 22x22 for a 255 crop, as AlexNet."""
    return AlexNet(channels=(32, 96, 160, 160), out_channels=128, conv1_kernel=7)


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
        self.stem = _conv_bn_relu(3, c[0], 7, 2)
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
