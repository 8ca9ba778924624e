"""Frame validation: the API takes BGR uint8 (H, W, 3); grey (H, W) / (H, W, 1) and BGRA are
converted once, anything else is a ``ValueError`` that says what was expected."""
from __future__ import annotations

import cv2
import numpy as np


def as_bgr(frame: np.ndarray) -> np.ndarray:
    """Return a C-contiguous (H, W, 3) uint8 BGR view or copy of ``frame``."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame must be a numpy array (H, W, 3) uint8 BGR, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 (0-255), got dtype {frame.dtype}; convert it, "
                         "e.g. np.clip(frame * 255, 0, 255).astype(np.uint8) for [0, 1] floats")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        frame = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_GRAY2BGR)
    elif frame.ndim == 3 and frame.shape[2] == 4:
        frame = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_BGRA2BGR)
    elif not (frame.ndim == 3 and frame.shape[2] == 3):
        raise ValueError(f"frame must have shape (H, W, 3) BGR, (H, W) or (H, W, 1) grey, "
                         f"got {frame.shape}")
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError(f"frame is empty: shape {frame.shape}")
    return np.ascontiguousarray(frame)
