"""The SiamFC AlexNet (Bertinetto et al. 2016) and its narrower variants."""
from __future__ import annotations

import torch
from torch import nn

from .layers import conv_bn_relu
from .registry import register_backbone


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
        self.conv1 = nn.Sequential(conv_bn_relu(3, c1, conv1_kernel, 2), nn.MaxPool2d(3, 2))
        self.conv2 = nn.Sequential(conv_bn_relu(c1, c2, 5, groups=2), nn.MaxPool2d(3, 2))
        self.conv3 = conv_bn_relu(c2, c3, 3)
        self.conv4 = conv_bn_relu(c3, c4, 3, groups=2)
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
