"""Pure functions of the box heads' step: decoding, change penalty, best cell, size calibration.

The step of SiamFC++ (Xu et al. 2020, after SiamRPN's post-processing) on the head's 17x17 maps
for N targets, one search crop each (``box.py`` runs it):

  1. decode each cell's box from its side distances (search-crop px);
  2. score = sigmoid(cls) * sigmoid(quality), times a penalty on the change of size and of
     aspect ratio against the target's current box;
  3. blend with a Hann window (peak 1) and take the best cell;
  4. the centre moves to that cell's box; the size moves towards it by
     ``box_lr * penalty * score`` (damping).

Two additions (not in SiamFC++), each a ``TrackerConfig`` switch:
  - ``box_peak="response"``: the centre is the peak of the bicubic-upsampled classification
    map, windowed as in SiamFC, and the size comes from the cell nearest to it;
  - ``box_cells`` > 1 (with ``box_peak="response"``): the size is pooled, a score-weighted
    geometric mean of the regressed w, h over the k x k cells around that cell;
  - a per-target calibration of the regressed sizes, fitted on the first frame, where the box
    is known: ``box_calibration`` regresses crops of it warped to 3 scales x 3 stretches, and
    fits the predicted log size and log aspect ratio to the apparent ones by two lines; later
    regressions are read through the inverted lines. ``box_gain`` is the one-crop case with
    slopes fixed at 1 (a factor per side).
"""
from __future__ import annotations

import numpy as np
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


#: the first-frame crops of the calibration: side factors (scale) and stretches of the
#: aspect ratio (the target looks ``stretch`` times wider)
CALIBRATION_SCALES = (0.8, 1.0, 1.25)
CALIBRATION_STRETCHES = (2 / 3, 1.0, 1.5)
#: the calibration's lines: (log-size intercept, slope, log-aspect intercept, slope)
IDENTITY_CALIBRATION = (0.0, 1.0, 0.0, 1.0)


def calibration_warps(scales: tuple[float, ...] = CALIBRATION_SCALES,
                      stretches: tuple[float, ...] = CALIBRATION_STRETCHES) -> np.ndarray:
    """(K, 2) factors on the search side along x and y, K = len(scales) x len(stretches): a
    region of side x s / sqrt(a) by side x s x sqrt(a) shows the target 1 / s times as large
    and ``a`` times as wide (in aspect ratio) as the plain crop does."""
    return np.array([(s / np.sqrt(a), s * np.sqrt(a)) for s in scales for a in stretches])


def _log_size_aspect(w, h):
    return 0.5 * (np.log(w) + np.log(h)), np.log(w) - np.log(h)


def fit_calibration(true_wh: np.ndarray, predicted_wh: np.ndarray, min_slope: float = 0.3,
                    max_slope: float = 1.2) -> np.ndarray:
    """(N, 4) lines (k0, ks, j0, ja), one per target, from (N, K, 2) true and predicted w, h
    (crop px) of K warped crops: predicted log size = k0 + ks x true log size, and log aspect
    ratio = j0 + ja x the true one, least squares. Slopes are clipped to [min_slope,
    max_slope], the lines kept through the points' mean."""
    ts, ta = _log_size_aspect(true_wh[..., 0], true_wh[..., 1])
    ps, pa = _log_size_aspect(np.maximum(predicted_wh[..., 0], 1e-3),
                              np.maximum(predicted_wh[..., 1], 1e-3))

    def line(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
        slope = (dx * dy).sum(axis=1) / np.maximum((dx * dx).sum(axis=1), 1e-12)
        slope = np.clip(slope, min_slope, max_slope)
        return y.mean(axis=1) - slope * x.mean(axis=1), slope

    (k0, ks), (j0, ja) = line(ts, ps), line(ta, pa)
    return np.stack([k0, ks, j0, ja], axis=1)


def gain_calibration(gain: np.ndarray) -> np.ndarray:
    """(N, 4) lines of slope 1 equivalent to per-side factors ``gain`` (N, 2) on w, h."""
    log_size, log_aspect = _log_size_aspect(gain[:, 0], gain[:, 1])
    ones = np.ones(len(gain))
    return np.stack([-log_size, ones, -log_aspect, ones], axis=1)


def calibrated_sizes(wh: torch.Tensor, calibration: torch.Tensor) -> torch.Tensor:
    """Regressed (N, 2, ...) w, h (crop px) read through each target's (N, 4) lines (see
    ``fit_calibration``): the true size and aspect ratio the lines map to them."""
    shape = (-1,) + (1,) * (wh.dim() - 2)
    k0, ks, j0, ja = (c.view(shape) for c in calibration.unbind(1))
    w, h = wh[:, 0].clamp(min=1e-3), wh[:, 1].clamp(min=1e-3)
    log_size = (0.5 * (w.log() + h.log()) - k0) / ks
    log_aspect = (w.log() - h.log() - j0) / ja
    return torch.stack([torch.exp(log_size + log_aspect / 2), torch.exp(log_size - log_aspect / 2)],
                       dim=1)


def nearest_cells(rows: torch.Tensor, cols: torch.Tensor, up: int, size: int) -> torch.Tensor:
    """(N,) flat index of the response cell nearest to each upsampled-map position (rows,
    cols (N,) px of a map ``up`` times the ``size`` x ``size`` response, centres aligned)."""
    centre_up, centre = (up * size - 1) / 2, (size - 1) / 2

    def cell(v: torch.Tensor) -> torch.Tensor:
        return torch.round((v.float() - centre_up) / up + centre).long().clamp(0, size - 1)

    return cell(rows) * size + cell(cols)


def pooled_sizes(ltrb: torch.Tensor, weight: torch.Tensor, cells: torch.Tensor,
                 k: int) -> torch.Tensor:
    """(N, 2) w, h (crop px): the ``weight``-weighted geometric mean of the regressed sizes
    (l + r, t + b of ``ltrb`` (N, 4, R, R)) over the k x k cells (k odd) centred on each flat
    cell index ``cells`` (N,); the window is cut at the map's edges. ``weight`` (N, R, R) >= 0
    (e.g. the cells' scores); k = 1 gives the cell's own box size; weights all 0 in a window
    give the plain mean there."""
    rows, cols = ltrb.shape[-2:]
    if k == 1:                       # the cell's own size: a gather, no map-wide work per frame
        left, top, right, bottom = ltrb.flatten(2)[torch.arange(len(ltrb), device=ltrb.device),
                                                   :, cells].unbind(1)
        return torch.stack([left + right, top + bottom], dim=1)
    r = k // 2
    cy, cx = (cells // cols).view(-1, 1, 1), (cells % cols).view(-1, 1, 1)
    ys = torch.arange(rows, device=ltrb.device).view(1, -1, 1)
    xs = torch.arange(cols, device=ltrb.device).view(1, 1, -1)
    inside = ((ys - cy).abs() <= r) & ((xs - cx).abs() <= r)                  # (N, R, R)
    w = weight.clamp(min=1e-12) * inside             # all-zero weights: the plain mean
    w = w / w.flatten(1).sum(dim=1).view(-1, 1, 1)
    left, top, right, bottom = ltrb.clamp(min=1e-3).unbind(1)
    logs = torch.stack([(left + right).log(), (top + bottom).log()], dim=1)  # (N, 2, R, R)
    return torch.exp((logs * w[:, None]).flatten(2).sum(dim=2))
