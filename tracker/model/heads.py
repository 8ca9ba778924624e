"""Heads on the siamese features: SiamFC's cross-correlation (``XCorrHead``, the paper's),
SiamFC++'s box-regression head (``BoxHead``), and SiamFC's response with SiamFC++'s box branch
beside it (``XCorrBoxHead``)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def xcorr(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Batched cross-correlation as one batched matrix product.

    z: (N, C, hz, wz) exemplar features; x: (N * K, C, hx, wx) search features where the
    K consecutive rows ``x[n*K:(n+1)*K]`` belong to exemplar ``z[n]`` (K scales per target).
    Returns (N * K, 1, hx - hz + 1, wx - wz + 1).

    A convolution with a single output channel per group runs far below a CPU's matrix-multiply
    speed. Here every search position is dotted with every exemplar position in one ``bmm``
    (G: (N*K, hx, wx, hz*wz); channels-last search features need no copy), and the response
    at (i, j) sums the hz*wz diagonals G[i + u, j + v, u*wz + v] through a strided view.
    Equal to a grouped convolution up to float re-association, about 10x faster on a CPU.
    """
    n, c, hz, wz = z.shape
    nk, _, hx, wx = x.shape
    if nk % n != 0 or x.shape[1] != c:
        raise ValueError(f"xcorr: search batch {tuple(x.shape)} does not match exemplars {tuple(z.shape)}")
    k = nk // n
    xs = x.permute(0, 2, 3, 1).reshape(n, k * hx * wx, c)               # (N, K*hx*wx, C)
    g = torch.bmm(xs, z.reshape(n, c, hz * wz)).reshape(nk, hx, wx, hz * wz)
    s = g.stride()
    diag = g.as_strided((nk, hx - hz + 1, wx - wz + 1, hz, wz),
                        (s[0], s[1], s[2], s[1] + wz * s[3], s[2] + s[3]))
    return diag.sum(dim=(3, 4)).unsqueeze(1)


class XCorrHead(nn.Module):
    """Cross-correlation (``xcorr``) scaled by ``adjust`` (0.001 in the paper), plus the
    paper's learned bias ``b`` when ``bias`` (f = adjust * phi(z) * phi(x) + b; our AlexNet
    weights were trained without it, as in siamfc-pytorch).

    In training too (same gradients as the grouped convolution; a batch of 16 forward and
    backward in 6 ms instead of 59 ms, though whole training steps were no faster: 17.4 vs
    17.3 pairs/s).
    """

    def __init__(self, adjust: float = 0.001, bias: bool = False) -> None:
        super().__init__()
        self.adjust = adjust
        self.bias = nn.Parameter(torch.zeros(1)) if bias else None

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(N, C, 6, 6), (N*K, C, 22, 22) -> (N*K, 1, 17, 17) response logits."""
        out = xcorr(z, x) * self.adjust
        return out + self.bias.to(out.dtype) if self.bias is not None else out


def dwxcorr(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Depth-wise cross-correlation: each channel of the exemplar slides over the same channel
    of the search features (SiamRPN++), one grouped convolution.

    z: (N, C, hz, wz); x: (N * K, C, hx, wx), K consecutive rows per exemplar as in ``xcorr``.
    Returns (N * K, C, hx - hz + 1, wx - wz + 1).
    """
    n, c, hz, wz = z.shape
    nk, _, hx, wx = x.shape
    if nk % n != 0 or x.shape[1] != c:
        raise ValueError(f"dwxcorr: search batch {tuple(x.shape)} does not match exemplars {tuple(z.shape)}")
    kernel = z.repeat_interleave(nk // n, dim=0).reshape(nk * c, 1, hz, wz)
    out = F.conv2d(x.reshape(1, nk * c, hx, wx), kernel, groups=nk * c)
    return out.view(nk, c, out.shape[-2], out.shape[-1])


def _conv_bn(cin: int, cout: int, k: int, relu: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


def _adjust(cin: int, hidden: int) -> nn.Sequential:
    """A 1x1 convolution + BN (no ReLU): the features of one branch, before the correlation."""
    return nn.Sequential(*_conv_bn(cin, hidden, 1, relu=False))


def _tower(hidden: int, layers: int) -> nn.Sequential:
    """``layers`` padded 3x3 conv-BN-ReLU layers (the map keeps its size)."""
    return nn.Sequential(*[m for _ in range(layers) for m in _conv_bn(hidden, hidden, 3, True)])


def _init_small(*convs: nn.Conv2d) -> None:
    """Output layers that start near zero: logit 0, side distances of REG_BASE px."""
    for conv in convs:
        nn.init.normal_(conv.weight, std=0.01)
        nn.init.zeros_(conv.bias)


def _sides(r: torch.Tensor, base: float) -> torch.Tensor:
    """Raw box outputs -> side distances ``base * exp(r)`` px (clamped: finite, > 0)."""
    return base * torch.exp(r.clamp(-6.0, 6.0))


@dataclass(frozen=True)
class BoxOutput:
    """What ``BoxHead`` predicts per response cell (all (B, ., 17, 17) for 127/255 crops):
    ``cls`` the target/background logit, ``quality`` the centre-ness logit (how central the
    cell lies in the target: SiamFC++'s quality score), ``ltrb`` the distances from the cell's
    position in the search crop to the box's left, top, right and bottom sides (search crop
    px, > 0)."""

    cls: torch.Tensor
    quality: torch.Tensor
    ltrb: torch.Tensor


class BoxHead(nn.Module):
    """SiamFC++'s head (Xu et al., AAAI 2020) on our correlation: per branch (classification,
    box) a 1x1 adjust convolution (+BN) of the exemplar and of the search features, their
    depth-wise cross-correlation, a tower of 3x3 conv-BN-ReLU layers (padded: the map stays
    17x17), then a 3x3 convolution to the outputs: classification and quality logits from the
    classification tower, the four side distances from the box tower as
    ``REG_BASE * exp(r)`` px (r = 0 gives a 2 * REG_BASE px square about the cell).
    """

    REG_BASE = 32.0     # px of the 255 search crop: a typical target is about 64 px across

    def __init__(self, in_channels: int, hidden: int = 128, tower: int = 2) -> None:
        super().__init__()
        self.in_channels, self.hidden, self.tower = in_channels, hidden, tower
        self.z_cls, self.x_cls = _adjust(in_channels, hidden), _adjust(in_channels, hidden)
        self.z_box, self.x_box = _adjust(in_channels, hidden), _adjust(in_channels, hidden)
        self.cls_tower, self.box_tower = _tower(hidden, tower), _tower(hidden, tower)
        self.cls_out = nn.Conv2d(hidden, 2, 3, padding=1)      # channels: cls, quality
        self.box_out = nn.Conv2d(hidden, 4, 3, padding=1)
        self.init_outputs()

    def init_outputs(self) -> None:
        """Small output weights: every cell starts at logit 0 and a 2 * REG_BASE px square
        (``network.init_weights`` calls this after its Kaiming initialisation)."""
        _init_small(self.cls_out, self.box_out)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> BoxOutput:
        """(N, C, 8, 8) exemplar and (N*K, C, 24, 24) search features -> ``BoxOutput`` of
        (N*K, 1 | 1 | 4, 17, 17); fp32 whatever the features' precision."""
        z, x = z.float(), x.float()
        c = self.cls_out(self.cls_tower(dwxcorr(self.z_cls(z), self.x_cls(x))))
        r = self.box_out(self.box_tower(dwxcorr(self.z_box(z), self.x_box(x))))
        return BoxOutput(c[:, :1], c[:, 1:], _sides(r, self.REG_BASE))


class XCorrBoxHead(nn.Module):
    """SiamFC's cross-correlation response as the classification (``xcorr``: an ``XCorrHead``,
    the same tensors as an xcorr weights file's head) with SiamFC++'s box branch beside it:
    1x1 adjust convolutions (+BN) of both features, their depth-wise cross-correlation, a tower
    of 3x3 conv-BN-ReLU layers, then a 3x3 convolution to the four side distances
    (``REG_BASE * exp(r)`` px, as ``BoxHead``) and the quality (centre-ness) logit.

    Built to start from trained xcorr weights: the response, which places the target, stays
    that of a trained SiamFC network, and only the box branch has to learn (``--head xcorr-box``).
    """

    REG_BASE = BoxHead.REG_BASE

    def __init__(self, in_channels: int, adjust: float = 0.001, bias: bool = False,
                 hidden: int = 128, tower: int = 2) -> None:
        super().__init__()
        self.in_channels, self.hidden, self.tower = in_channels, hidden, tower
        self.xcorr = XCorrHead(adjust, bias)
        self.z_box, self.x_box = _adjust(in_channels, hidden), _adjust(in_channels, hidden)
        self.box_tower = _tower(hidden, tower)
        self.box_out = nn.Conv2d(hidden, 4, 3, padding=1)
        self.quality_out = nn.Conv2d(hidden, 1, 3, padding=1)
        self.init_outputs()

    def init_outputs(self) -> None:
        """Small output weights: quality logit 0 and a 2 * REG_BASE px square at every cell."""
        _init_small(self.box_out, self.quality_out)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> BoxOutput:
        """(N, C, hz, wz) exemplar and (N*K, C, hx, wx) search features -> ``BoxOutput`` of
        (N*K, 1 | 1 | 4, R, R) maps, R = hx - hz + 1 (17 for 8x8 and 24x24 features); fp32."""
        z, x = z.float(), x.float()
        cls = self.xcorr(z, x)
        t = self.box_tower(dwxcorr(self.z_box(z), self.x_box(x)))
        r = self.box_out(t)      # padded tower: the same R x R grid as the response
        return BoxOutput(cls, self.quality_out(t), _sides(r, self.REG_BASE))
