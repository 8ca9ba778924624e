"""Where to look for a lost target: a sliding search over the frame at the target's last scale.

SiamFC only searches near the last position, so a target that left the search region is rarely
found again. While a target is lost the tracker runs one wide search crop per frame (see
``TrackerConfig.redetect_factor``), visiting these centres in turn: the last known position
first, then tiles covering the whole frame, nearest first.
"""
from __future__ import annotations

import math

import numpy as np


def search_centres(frame_hw: tuple[int, int], last_centre: tuple[float, float],
                   side: float, overlap: float = 0.25) -> np.ndarray:
    """(K, 2) (cx, cy) px: ``last_centre`` first, then a grid of square tiles of ``side`` px
    that covers the (H, W) frame with the given fractional ``overlap``, nearest first."""
    h, w = frame_hw
    if side <= 0 or not math.isfinite(side):
        raise ValueError(f"tile side must be a positive number of pixels, got {side}")
    step = side * (1 - overlap)

    def axis(length: int) -> np.ndarray:
        if length <= side:
            return np.array([(length - 1) / 2])
        n = math.ceil((length - side) / step) + 1
        return np.linspace(side / 2 - 0.5, length - side / 2 - 0.5, n)

    gx, gy = np.meshgrid(axis(w), axis(h))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    first = np.asarray(last_centre, dtype=np.float64)[None]
    order = np.argsort(np.hypot(*(grid - first).T), kind="stable")
    return np.concatenate([first, grid[order]])


def peak_to_frame(peak_rc: tuple[int, int], response_size: int, crop_centre: np.ndarray,
                  crop_side: float, crop_px: int, total_stride: int) -> np.ndarray:
    """(cx, cy) frame px of response cell ``peak_rc`` (row, col) of a ``response_size``-wide map
    computed on a ``crop_px`` crop of side ``crop_side`` frame px centred on ``crop_centre``."""
    centre = (response_size - 1) / 2
    disp = np.array([peak_rc[1] - centre, peak_rc[0] - centre]) * total_stride   # crop px
    return np.asarray(crop_centre, dtype=np.float64) + disp * crop_side / crop_px
