"""MobileNetV2 (Sandler et al. 2018) and EfficientNet-Lite0 (Tan & Le 2019, the int8-friendly
variant: no squeeze-excitation, ReLU6) cut and dilated for SiamFC; ImageNet initialisation in
``pretrained.py``. Blocks are numbered as in the ImageNet files."""
from __future__ import annotations

from torch import nn

from .inverted import InvertedResidualNet, Stage
from .registry import register_backbone

#: t, c, n, s of MobileNetV2 (table 2 of the paper) with 3x3 depthwise kernels
MOBILENETV2 = [Stage(3, 1, 16, 1, 1), Stage(3, 6, 24, 2, 2), Stage(3, 6, 32, 3, 2),
               Stage(3, 6, 64, 4, 2), Stage(3, 6, 96, 3, 1), Stage(3, 6, 160, 3, 2),
               Stage(3, 6, 320, 1, 1)]
#: EfficientNet-Lite0: the B0 layout with its own kernels, ReLU6 and no squeeze-excitation
EFFICIENTNET_LITE0 = [Stage(3, 1, 16, 1, 1), Stage(3, 6, 24, 2, 2), Stage(5, 6, 40, 2, 2),
                      Stage(3, 6, 80, 3, 2), Stage(5, 6, 112, 3, 1), Stage(5, 6, 192, 4, 2),
                      Stage(3, 6, 320, 1, 1)]
#: EfficientNet-Lite's input: RGB (x - 127) / 128; BatchNorm eps 1e-3 (TensorFlow's)
LITE0_INPUT = {"mean_rgb": (127.0, 127.0, 127.0), "std_rgb": (128.0, 128.0, 128.0), "eps": 1e-3}


def mobilenetv2_net(stages: int, out_channels: int = 256, border: int = 4,
                    max_stride: int = 8) -> InvertedResidualNet:
    """MobileNetV2 cut after its first ``stages`` stages (5: the 96-channel one), dilated
    past ``max_stride``."""
    return InvertedResidualNet(MOBILENETV2[:stages], out_channels, border, pretrained="mobilenetv2",
                               max_stride=max_stride)


def efficientnet_lite0_net(stages: int, out_channels: int = 256,
                           border: int = 4) -> InvertedResidualNet:
    """EfficientNet-Lite0 cut after its first ``stages`` stages (5: the 112-channel one)."""
    return InvertedResidualNet(EFFICIENTNET_LITE0[:stages], out_channels, border,
                               pretrained="efficientnet_lite0", **LITE0_INPUT)


@register_backbone("mobilenetv2")
def mobilenetv2() -> nn.Module:
    """MobileNetV2 to the 96-channel stage (stride 16 -> dilated), 256-channel embedding."""
    return mobilenetv2_net(5)


@register_backbone("mobilenetv2_64")
def mobilenetv2_64() -> nn.Module:
    """MobileNetV2 to the 64-channel stage (dilated), 128-channel embedding: the lighter cut."""
    return mobilenetv2_net(4, out_channels=128)


@register_backbone("mobilenetv2_s16")
def mobilenetv2_s16() -> nn.Module:
    """MobileNetV2 to the 96-channel stage at its own stride 16 (undilated, as NanoTrack and
    LightTrack), 128-channel embedding, 2 border cells cut (4x4 exemplar, 12x12 search, 9x9
    response): about a third of the default's cost per crop."""
    return mobilenetv2_net(5, out_channels=128, border=2, max_stride=16)


@register_backbone("efficientnet_lite0")
def efficientnet_lite0() -> nn.Module:
    """EfficientNet-Lite0 to the 112-channel stage (dilated), 256-channel embedding."""
    return efficientnet_lite0_net(5)
