"""Targets of one tracker keep apart: another's place is no candidate, a merged one is flagged.

Two look-alike targets (two pedestrians) each respond strongly on both objects; when one is
occluded its peak can jump to the other, and both boxes then follow one object with high
scores. Two rules stop that silently happening:

- **exclusion** (in the step, before the peak is taken, and in a lost target's wide search):
  on target i's response map, every other target j that is not lost pushes the response down around j's last
  centre by ``exclusion_weight`` x the map's spread (peak minus median) x a Gaussian of j's
  box (sigma: a quarter of its width and height), so that i cannot move onto j's object. Pairs
  whose last boxes nest or overlap heavily (intersection over the smaller box of at least
  ``merge_iou``: a face inside its person, targets already crossing) do not exclude each other;
- **merge** (after the frame is scored): two targets whose new boxes overlap at IoU of at least
  ``merge_iou`` are taken to be on one object; the lower-scoring one is flagged lost for that
  frame (and does not teach its online model).
"""
from __future__ import annotations

import numpy as np
import torch

from ..config import TrackerConfig
from ..geometry import cxcywh_to_ltwh, intersection_ltwh, iou_ltwh
from ..targets import Targets


def boxes_ltwh(center: np.ndarray, size: np.ndarray) -> np.ndarray:
    """(N, 4) x, y, w, h boxes of centres and sizes (N, 2) px."""
    return cxcywh_to_ltwh(np.concatenate([center, size], axis=1))


def overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over the smaller box's area of (..., 4) x, y, w, h boxes (broadcasting)."""
    smaller = np.minimum(a[..., 2] * a[..., 3], b[..., 2] * b[..., 3])
    inter = intersection_ltwh(a, b)
    return np.where(smaller > 0, inter / np.where(smaller > 0, smaller, 1.0), 0.0)


def excluders(center: np.ndarray, size: np.ndarray, lost: np.ndarray,
              apart: float) -> np.ndarray:
    """(N, N) bool: target j excludes its place from target i's search (row i, column j):
    j is another target, not lost, and the two last boxes (centres, sizes (N, 2) px) overlap
    by less than ``apart`` of the smaller one."""
    boxes = boxes_ltwh(center, size)
    overlap = overlap_of_smaller(boxes[:, None], boxes[None])
    pairs = (overlap < apart) & ~lost[None, :]
    np.fill_diagonal(pairs, False)
    return pairs


def exclusion_bumps(crop_centres: np.ndarray, crop_sides: np.ndarray, center: np.ndarray,
                    size: np.ndarray, pairs: np.ndarray, response_size: int, stride: int,
                    crop_px: int) -> np.ndarray:
    """(M, S, R, R) in [0, 1]: on the S search crops of each of M targets (centred on
    ``crop_centres`` (M, 2), sides ``crop_sides`` (M, S) frame px, resized to ``crop_px``),
    the Gaussians of the targets j with ``pairs[m, j]`` (centres, sizes (N, 2) frame px;
    sigma a quarter of j's w, h), summed and clipped to 1, on the R x R response grid (cell k
    at crop px (crop_px - 1) / 2 + (k - (R - 1) / 2) x ``stride``)."""
    m, s = crop_sides.shape
    cells = np.arange(response_size) - (response_size - 1) / 2                     # (R,)
    out = np.zeros((m, s, response_size, response_size))
    for i, j in zip(*np.nonzero(pairs)):
        cells_per_px = crop_px / crop_sides[i] / stride                             # (S,)
        dx, dy = (center[j] - crop_centres[i])[:, None] * cells_per_px[None]         # (S,)
        sx, sy = np.maximum(size[j][:, None] / 4 * cells_per_px[None], 0.5)          # (S,)
        gx = np.exp(-(cells[None] - dx[:, None]) ** 2 / (2 * sx[:, None] ** 2))      # (S, R)
        gy = np.exp(-(cells[None] - dy[:, None]) ** 2 / (2 * sy[:, None] ** 2))
        out[i] += gy[:, :, None] * gx[:, None, :]
    return np.minimum(out, 1.0)


def exclude(maps: torch.Tensor, bumps: torch.Tensor | np.ndarray, weight: float) -> torch.Tensor:
    """(B, 1, R, R) response maps with ``weight`` x their spread (peak minus median) x
    ``bumps`` (B, R, R) subtracted."""
    flat = maps.flatten(1)
    spread = (flat.amax(1) - flat.median(1).values)[:, None, None, None]
    b = torch.as_tensor(bumps).to(device=maps.device, dtype=maps.dtype)
    return maps - weight * spread * b[:, None]


def merged(center: np.ndarray, size: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """(N,) bool: the targets (centres, sizes (N, 2) px, ``scores`` (N,)) whose box overlaps
    another's at IoU >= ``iou`` with a higher score (ties: the later target yields)."""
    boxes = boxes_ltwh(center, size)
    over = iou_ltwh(boxes[:, None], boxes[None]) >= iou                               # (N, N)
    np.fill_diagonal(over, False)
    order = np.arange(len(scores))
    beaten = (scores[None, :] > scores[:, None]) | (
        (scores[None, :] == scores[:, None]) & (order[None, :] < order[:, None]))
    return (over & beaten).any(axis=1)


def keep_apart(maps: list[torch.Tensor], targets: Targets, crop_sides: np.ndarray,
               cfg: TrackerConfig) -> list[torch.Tensor]:
    """The step's (N*S, 1, R, R) response ``maps`` (S crops per target, sides ``crop_sides``
    (N, S) frame px) with the other targets' places pushed down (``exclusion``; unchanged
    when it is off or no pair excludes)."""
    t = targets
    if not cfg.exclusion or len(t) < 2:
        return maps
    pairs = excluders(t.center, t.size, t.lost, cfg.merge_iou)
    if not pairs.any():
        return maps
    r = maps[0].shape[-1]
    bumps = torch.from_numpy(exclusion_bumps(t.center, crop_sides, t.center, t.size, pairs, r,
                                             cfg.total_stride, cfg.instance_size)
                             .reshape(-1, r, r)).to(maps[0].device)     # one upload
    done: dict[int, torch.Tensor] = {}          # a map given twice is pushed down once
    for m in maps:
        if id(m) not in done:
            done[id(m)] = exclude(m, bumps, cfg.exclusion_weight)
    return [done[id(m)] for m in maps]


def keep_apart_wide(resp: torch.Tensor, targets: Targets, i: int, centre: np.ndarray,
                    side: float, cfg: TrackerConfig) -> torch.Tensor:
    """Lost target ``i``'s (R, R) wide-search response (a crop of ``side`` frame px centred on
    ``centre``, resized to ``wide_size``) with the places of the other targets that are not
    lost pushed down (``exclusion``)."""
    t = targets
    others = ~t.lost.copy()
    others[i] = False
    if not cfg.exclusion or not others.any():
        return resp
    r = resp.shape[-1]
    bumps = exclusion_bumps(np.asarray(centre, dtype=np.float64)[None], np.array([[side]]),
                            t.center, t.size, others[None], r, cfg.total_stride, cfg.wide_size)
    return exclude(resp[None, None], bumps.reshape(1, r, r), cfg.exclusion_weight)[0, 0]


def on_another(targets: Targets, scores: np.ndarray, cfg: TrackerConfig) -> np.ndarray:
    """(N,) bool: targets whose new box sits on another's object (``merged``; none when
    ``exclusion`` is off)."""
    if not cfg.exclusion or len(targets) < 2:
        return np.zeros(len(targets), dtype=bool)
    return merged(targets.center, targets.size, scores, cfg.merge_iou)
