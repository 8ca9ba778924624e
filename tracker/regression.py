"""The box head's tracking step (SiamFC++, Xu et al. 2020, after SiamRPN's post-processing):
pure functions on the head's 17x17 maps for N targets, one search crop each.

  1. decode each cell's box from its side distances (search-crop px);
  2. score = sigmoid(cls) * sigmoid(quality), times a penalty on the change of size and of
     aspect ratio against the target's current box;
  3. blend with a Hann window (peak 1) and take the best cell;
  4. the centre moves to that cell's box; the size moves towards it by
     ``box_lr * penalty * score`` (damping).
"""
from __future__ import annotations

import torch


def cell_positions(size: int, stride: int, instance_size: int) -> torch.Tensor:
    """(size,) float32: the search-crop px coordinate of each response row / column (the crop's
    centre plus ``stride`` x the cell's offset from the map's centre)."""
    return (instance_size - 1) / 2 + stride * (torch.arange(size, dtype=torch.float32) - (size - 1) / 2)


def decode_boxes(ltrb: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(N, 4, R, R) side distances (l, t, r, b, px) -> (N, 4, R, R) boxes (cx, cy, w, h) in
    search-crop px; ``positions`` (R,) is the crop px of each response row / column."""
    px, py = positions.view(1, 1, -1), positions.view(1, -1, 1)
    left, top, right, bottom = ltrb.unbind(1)
    x0, x1, y0, y1 = px - left, px + right, py - top, py + bottom
    return torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], dim=1)


def _padded_side(w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    pad = (w + h) / 2
    return torch.sqrt((w + pad) * (h + pad))


def change_penalty(boxes: torch.Tensor, size: torch.Tensor, k: float) -> torch.Tensor:
    """exp(-(r * s - 1) * k) per cell, (N, R, R): ``s`` the change of the padded size
    sqrt((w + p)(h + p)), p = (w + h) / 2, and ``r`` of the aspect ratio w / h, each as
    max(x, 1 / x), between the cell's box and the target's current ``size`` (N, 2) (w, h in
    the same crop px); 1 where nothing changes, smaller the more it does."""
    w, h = boxes[:, 2].clamp(min=1e-3), boxes[:, 3].clamp(min=1e-3)
    w0, h0 = size[:, 0].view(-1, 1, 1), size[:, 1].view(-1, 1, 1)
    s = _padded_side(w, h) / _padded_side(w0, h0)
    r = (w0 / h0) / (w / h)
    s, r = torch.maximum(s, 1 / s), torch.maximum(r, 1 / r)
    return torch.exp(-(r * s - 1) * k)


def best_cells(score: torch.Tensor, penalty: torch.Tensor, window: torch.Tensor,
               influence: float) -> torch.Tensor:
    """(N,) flat index of the best cell of (N, R, R) ``score * penalty`` blended with the
    (R, R) ``window`` (peak 1) by ``influence``."""
    blended = (1 - influence) * score * penalty + influence * window
    return torch.argmax(blended.flatten(1), dim=1)


def damped_size(size: torch.Tensor, new: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """(N, 2) size moved towards ``new`` (N, 2) by ``rate`` (N,) in [0, 1]."""
    return size * (1 - rate[:, None]) + new * rate[:, None]


def size_gain(true: torch.Tensor, predicted: torch.Tensor, limit: float = 3.0) -> torch.Tensor:
    """(N, 2) per-axis factors true / predicted (w, h, same px) clipped to [1 / limit, limit]:
    what turns the head's regressed size into the known one on the first frame, applied to
    its later regressions of the same target."""
    gain = true / predicted.clamp(min=1e-3)
    return gain.clamp(1.0 / limit, limit)
