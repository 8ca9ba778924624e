"""Box geometry: pure functions on 0-based (x, y, w, h) float boxes.

Convention: pixel ``i`` covers [i - 0.5, i + 0.5]; a box (x, y, w, h) covers columns
x .. x + w - 1, so its centre is (x + (w - 1) / 2, y + (h - 1) / 2) (as in OTB/got10k).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def ltwh_to_cxcywh(box: np.ndarray) -> np.ndarray:
    """(..., 4) x, y, w, h -> (..., 4) cx, cy, w, h."""
    box = np.asarray(box, dtype=np.float64)
    out = box.copy()
    out[..., 0] = box[..., 0] + (box[..., 2] - 1) / 2
    out[..., 1] = box[..., 1] + (box[..., 3] - 1) / 2
    return out


def cxcywh_to_ltwh(box: np.ndarray) -> np.ndarray:
    """(..., 4) cx, cy, w, h -> (..., 4) x, y, w, h."""
    box = np.asarray(box, dtype=np.float64)
    out = box.copy()
    out[..., 0] = box[..., 0] - (box[..., 2] - 1) / 2
    out[..., 1] = box[..., 1] - (box[..., 3] - 1) / 2
    return out


def one_based_to_zero_based(box: np.ndarray) -> np.ndarray:
    """OTB/MATLAB 1-based (x, y, w, h) -> 0-based; (..., 4) arrays."""
    out = np.array(box, dtype=np.float64, copy=True)
    out[..., :2] -= 1
    return out


def zero_based_to_one_based(box: np.ndarray) -> np.ndarray:
    """0-based (x, y, w, h) -> OTB/MATLAB 1-based; (..., 4) arrays."""
    out = np.array(box, dtype=np.float64, copy=True)
    out[..., :2] += 1
    return out


def context_size(w: np.ndarray | float, h: np.ndarray | float, context: float = 0.5) -> np.ndarray:
    """Exemplar side s_z = sqrt((w + p)(h + p)) with p = context * (w + h), in frame pixels."""
    w = np.asarray(w, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    p = context * (w + h)
    return np.sqrt((w + p) * (h + p))


def parse_box(text: str) -> tuple[float, float, float, float]:
    """Parse ``"x,y,w,h"`` (four numbers separated by commas, spaces around them allowed) into
    four floats; ``ValueError`` otherwise, showing the expected form."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        if len(parts) != 4:
            raise ValueError
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"box {text!r} must be X,Y,W,H: four numbers separated by commas, "
                         "e.g. 10,20,40,60") from None
    return values  # type: ignore[return-value]


MIN_BOX_SIDE = 0.01     # px; smaller initial boxes are rejected
MAX_BOX_FACTOR = 100    # initial boxes larger than 100x the frame are rejected


def validate_box(box: Sequence[float] | np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """Check one initial box against a frame of size (H, W); returns a float64 (4,) array.

    Raises ``ValueError`` for a wrong shape, non-finite numbers, a size that is not positive,
    below ``MIN_BOX_SIDE`` or above ``MAX_BOX_FACTOR`` x the frame, or a box that does not
    overlap the frame at all.
    """
    arr = np.asarray(box, dtype=np.float64).reshape(-1)
    if arr.shape != (4,):
        raise ValueError(f"box must have 4 numbers (x, y, w, h), got shape {np.shape(box)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"box {arr.tolist()} contains NaN or inf")
    x, y, w, h = arr
    if w <= 0 or h <= 0:
        raise ValueError(f"box {arr.tolist()} is empty: width and height must be > 0")
    if w < MIN_BOX_SIDE or h < MIN_BOX_SIDE:
        raise ValueError(f"box {arr.tolist()} is too small: width and height must be at least "
                         f"{MIN_BOX_SIDE} px")
    height, width = frame_hw
    if w > MAX_BOX_FACTOR * width or h > MAX_BOX_FACTOR * height:
        raise ValueError(f"box {arr.tolist()} is more than {MAX_BOX_FACTOR}x the "
                         f"{width}x{height} frame")
    if x + w <= 0 or y + h <= 0 or x >= width or y >= height:
        raise ValueError(
            f"box {arr.tolist()} lies wholly outside the {width}x{height} frame")
    return arr


def intersection_ltwh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection area of (..., 4) x, y, w, h boxes (broadcasting); 0 when they are apart."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    left = np.maximum(a[..., 0], b[..., 0])
    top = np.maximum(a[..., 1], b[..., 1])
    right = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2])
    bottom = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3])
    return np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)


def iou_ltwh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of (..., 4) x, y, w, h boxes (broadcasting); 0 when empty."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    inter = intersection_ltwh(a, b)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return np.clip(iou, 0.0, 1.0)


def scale_factors(num_scales: int, step: float) -> np.ndarray:
    """Scale pyramid step ** [-(S//2) .. S//2], e.g. [1/1.0375, 1, 1.0375]."""
    half = num_scales // 2
    return step ** np.arange(-half, half + 1, dtype=np.float64)


def hann_window(size: int) -> np.ndarray:
    """Normalised 2-D Hann (cosine) window of side ``size``, summing to 1."""
    win = np.outer(np.hanning(size), np.hanning(size))
    return win / win.sum()
