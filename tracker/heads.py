"""The SiamFC head: cross-correlation of exemplar features over search features."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def xcorr(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Batched cross-correlation as one grouped convolution.

    z: (N, C, hz, wz) exemplar features; x: (N * K, C, hx, wx) search features where the
    K consecutive rows ``x[n*K:(n+1)*K]`` belong to exemplar ``z[n]`` (K scales per target).
    Returns (N * K, 1, hx - hz + 1, wx - wz + 1).
    """
    n, c, hz, wz = z.shape
    nk = x.shape[0]
    if nk % n != 0 or x.shape[1] != c:
        raise ValueError(f"xcorr: search batch {tuple(x.shape)} does not match exemplars {tuple(z.shape)}")
    k = nk // n
    weight = z.repeat_interleave(k, dim=0) if k > 1 else z          # (N*K, C, hz, wz)
    out = F.conv2d(x.reshape(1, nk * c, x.shape[2], x.shape[3]), weight, groups=nk)
    return out.reshape(nk, 1, out.shape[2], out.shape[3])


class XCorrHead(nn.Module):
    """Cross-correlation scaled by ``adjust`` (0.001 in the paper)."""

    def __init__(self, adjust: float = 0.001) -> None:
        super().__init__()
        self.adjust = adjust

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(N, C, 6, 6), (N*K, C, 22, 22) -> (N*K, 1, 17, 17) response logits."""
        return xcorr(z, x) * self.adjust
