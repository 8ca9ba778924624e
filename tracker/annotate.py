"""Drawing boxes and labels on frames. Annotators only draw: they return a new frame."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

PALETTE = [(0, 0, 255), (0, 200, 0), (255, 128, 0), (0, 200, 255), (255, 0, 255),
           (255, 255, 0), (128, 0, 255), (0, 128, 255)]


def color_for(target_id: int) -> tuple[int, int, int]:
    """A distinct BGR colour per target id."""
    return PALETTE[target_id % len(PALETTE)]


def draw_box(frame: np.ndarray, box: Sequence[float], label: str = "",
             color: tuple[int, int, int] = (0, 0, 255), thickness: int = 2) -> np.ndarray:
    """Copy of ``frame`` with the 0-based (x, y, w, h) ``box`` and an optional label drawn."""
    out = frame.copy()
    x, y, w, h = (float(v) for v in box)
    p0 = (int(round(x)), int(round(y)))
    p1 = (int(round(x + w - 1)), int(round(y + h - 1)))
    cv2.rectangle(out, p0, p1, color, thickness, cv2.LINE_AA)
    if label:
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        ty = p0[1] - 4 if p0[1] - th - 6 >= 0 else p1[1] + th + 4
        cv2.rectangle(out, (p0[0], ty - th - 2), (p0[0] + tw + 2, ty + base - 1), color, -1)
        cv2.putText(out, label, (p0[0] + 1, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return out


def draw_text(frame: np.ndarray, text: str, origin: tuple[int, int] = (8, 20)) -> np.ndarray:
    """Copy of ``frame`` with a line of text on a dark background."""
    out = frame.copy()
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    x, y = origin
    cv2.rectangle(out, (x - 4, y - th - 4), (x + tw + 4, y + base + 2), (0, 0, 0), -1)
    cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out
