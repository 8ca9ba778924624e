"""Building blocks shared by the backbone families (no padding anywhere: see the package)."""
from __future__ import annotations

from torch import nn


def conv_bn_relu(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv k x k (no padding) + BatchNorm + ReLU; ``fold_batchnorm`` and the int8 fusion
    rely on this Sequential shape."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, groups=groups, bias=True),
        nn.BatchNorm2d(cout, eps=1e-5, momentum=0.05),
        nn.ReLU(inplace=True),
    )
