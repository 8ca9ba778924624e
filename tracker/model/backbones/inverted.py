"""Inverted-residual backbones (MobileNetV2, EfficientNet-Lite) shaped for SiamFC.

The ImageNet networks are cut after a middle stage; the stages after the third stride-2 one
keep stride 1 and dilate their depthwise convolutions instead (as SiamRPN++ does), so the total
stride is 8 (``max_stride=16``: the stages keep their own strides up to 16, as NanoTrack's and
LightTrack's backbones do; a 127 exemplar then gives 8x8 features, a 255 crop 16x16). Unlike AlexNet these networks pad, so a 127 px exemplar gives 16x16 features and a
255 px search crop 32x32, and cell ``i`` of either map is centred on pixel ``8 i`` of its crop.
The outermost ``border`` cells of both maps see the zero padding; they are cut off (SiamDW's
remedy; with ``border=4`` the exemplar keeps its central 8x8 cells, about the target itself, as
SiamRPN++ keeps 7x7). Cutting the same number from both keeps the response 17x17 with its
centre at zero displacement, so the tracker is unchanged. A 1x1 "adjust" convolution (+BN)
maps the cut stage's channels to the embedding width.

Input: (B, 3, H, W) BGR pixels in [0, 255], like every backbone here. The ImageNet input
normalisation (BGR -> RGB, mean and scale) is a fixed 1x1 convolution in front (exact, and
quantizable), not trained.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.ao.nn.quantized import FloatFunctional


@dataclass(frozen=True)
class Stage:
    """One stage of inverted residual blocks: kernel, expansion, output channels, repeats,
    ImageNet stride of its first block."""

    kernel: int
    expand: int
    channels: int
    repeats: int
    stride: int


def conv_bn_relu6(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
                  dilation: int = 1, eps: float = 1e-5) -> list[nn.Module]:
    """Conv (padded to keep 'same' size at stride 1) + BatchNorm + ReLU6, as a flat list."""
    return [nn.Conv2d(cin, cout, k, stride, padding=dilation * (k - 1) // 2, dilation=dilation,
                      groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=eps), nn.ReLU6(inplace=True)]


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand (+BN+ReLU6, absent when ``expand == 1``), k x k
    depthwise (+BN+ReLU6), 1x1 linear projection (+BN); identity shortcut when the shape
    stays. ``conv`` is one flat Sequential (the layout of the ImageNet files: indices
    0,1,3,4,6,7 hold weights), so BatchNorm folding and int8 conversion see conv-BN pairs."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int,
                 dilation: int = 1, eps: float = 1e-5) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += conv_bn_relu6(cin, hidden, 1, eps=eps)
        layers += conv_bn_relu6(hidden, hidden, kernel, stride, groups=hidden, dilation=dilation,
                                eps=eps)
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout, eps=eps)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout
        self.add = FloatFunctional()     # a plain add in float; a quantized add in int8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return self.add.add(x, out) if self.residual else out


def input_normalization(mean_rgb: tuple[float, float, float],
                        std_rgb: tuple[float, float, float]) -> nn.Conv2d:
    """A fixed 1x1 convolution: BGR 0-255 in, RGB ``(x - mean) / std`` out (0-255 units)."""
    conv = nn.Conv2d(3, 3, 1, bias=True)
    with torch.no_grad():
        conv.weight.zero_()
        for out_c, in_c in enumerate((2, 1, 0)):            # RGB out from BGR in
            conv.weight[out_c, in_c] = 1.0 / std_rgb[out_c]
        conv.bias.copy_(torch.tensor([-m / s for m, s in zip(mean_rgb, std_rgb)]))
    conv.requires_grad_(False)
    return conv


class InvertedResidualNet(nn.Module):
    """Stem (3x3/2 conv+BN+ReLU6) and ``stages`` of inverted residual blocks, cut after the
    last given stage, total stride ``max_stride`` (8 by default), then the 1x1 ``adjust`` convolution and the border cut.
    (``max_stride=32`` with all stages gives the ImageNet network itself, undilated.)

    ``blocks`` numbers the blocks as the ImageNet files do; ``stage_blocks[s]`` lists the
    block indices of stage ``s`` (for freezing stage by stage). ``pretrained`` names the
    ImageNet file's family (see ``pretrained.py``) or is empty.
    """

    total_stride = 8
    head_bias = True     # the cross-correlation head adds the paper's learned bias

    def __init__(self, stages: list[Stage], out_channels: int = 256, border: int = 4,
                 stem_channels: int = 32, eps: float = 1e-5,
                 mean_rgb: tuple[float, float, float] = (123.675, 116.28, 103.53),
                 std_rgb: tuple[float, float, float] = (58.395, 57.12, 57.375),
                 pretrained: str = "", max_stride: int = 8) -> None:
        super().__init__()
        if border < 0:
            raise ValueError(f"border must be >= 0, got {border}")
        self.out_channels = out_channels
        self.border = border
        self.pretrained = pretrained
        self.normalize = input_normalization(mean_rgb, std_rgb)
        self.stem = nn.Sequential(*conv_bn_relu6(3, stem_channels, 3, 2, eps=eps))
        blocks: list[nn.Module] = []
        self.stage_blocks: list[list[int]] = []
        self.stage_strides: list[int] = []        # the output stride after each stage
        stride, dilation, cin = 2, 1, stem_channels
        for stage in stages:
            self.stage_blocks.append([])
            for r in range(stage.repeats):
                s = stage.stride if r == 0 else 1
                first_dilation = dilation
                if s == 2 and stride == max_stride:        # past it: dilate instead
                    s, dilation = 1, dilation * 2
                    first_dilation = max(1, dilation // 2)   # the first block still sees the coarser grid
                stride *= s
                self.stage_blocks[-1].append(len(blocks))
                blocks.append(InvertedResidual(cin, stage.channels, stage.expand, stage.kernel, s,
                                               first_dilation if r == 0 else dilation, eps))
                cin = stage.channels
            self.stage_strides.append(stride)
        if stride != max_stride:
            raise ValueError(f"stages give total stride {stride}, need {max_stride}")
        self.total_stride = stride
        self.blocks = nn.Sequential(*blocks)
        # BatchNorm takes the ImageNet features' large per-channel means out of the
        # cross-correlation (without it the first responses saturate the sigmoid)
        self.adjust = nn.Sequential(nn.Conv2d(cin, out_channels, 1, bias=False),
                                    nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) BGR 0-255 -> (B, out_channels, ceil(H / stride) - 2 border, same for W):
        (B, C, 8, 8) for a 127 exemplar and (B, C, 24, 24) for a 255 search crop (stride 8,
        border 4); (B, C, 4, 4) and (B, C, 12, 12) at stride 16, border 2."""
        return self._cut(self.adjust(self.blocks(self.stem(self.normalize(x)))))

    @property
    def shallow_end(self) -> int:
        """Blocks up to the end of the first stage at the total stride (the shallow layer)."""
        return self.stage_blocks[self.stage_strides.index(self.total_stride)][-1] + 1

    def forward_layers(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``forward(x)`` and, from the same pass, the shallow layer's (B, C', h, w) features
        on the same grid (the online target model filters both)."""
        shallow = self.blocks[:self.shallow_end](self.stem(self.normalize(x)))
        return [self._cut(self.adjust(self.blocks[self.shallow_end:](shallow))),
                self._cut(shallow)]

    def _cut(self, x: torch.Tensor) -> torch.Tensor:
        b = self.border
        return x[..., b:x.shape[-2] - b, b:x.shape[-1] - b] if b else x

    def pretrained_modules(self) -> list[nn.Module]:
        """The parts initialised from ImageNet, earliest first: the stem, then each stage."""
        return [self.stem] + [nn.Sequential(*(self.blocks[i] for i in idx))
                              for idx in self.stage_blocks]
