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
    if thickness > 0:
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


LOST_COLOR = (160, 160, 160)


def draw_dashed_rect(frame: np.ndarray, box: Sequence[float], color: tuple[int, int, int],
                     thickness: int = 2, dash: int = 8) -> np.ndarray:
    """Copy of ``frame`` with the 0-based (x, y, w, h) ``box`` drawn as a dashed rectangle."""
    out = frame.copy()
    x, y, w, h = (float(v) for v in box)
    x0, y0, x1, y1 = int(round(x)), int(round(y)), int(round(x + w - 1)), int(round(y + h - 1))
    for (ax, ay), (bx, by) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)),
                               ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = max(abs(bx - ax), abs(by - ay))
        for start in range(0, max(1, length), 2 * dash):
            t0, t1 = start / max(1, length), min(1.0, (start + dash) / max(1, length))
            p = (int(ax + (bx - ax) * t0), int(ay + (by - ay) * t0))
            q = (int(ax + (bx - ax) * t1), int(ay + (by - ay) * t1))
            cv2.line(out, p, q, color, thickness, cv2.LINE_AA)
    return out


def draw_target(frame: np.ndarray, box: Sequence[float], target_id: int, score: float,
                lost: bool = False, selected: bool = False) -> np.ndarray:
    """Copy of ``frame`` with one tracked target: its box in its own colour labelled
    ``#id score``; a lost target is a grey dashed box labelled ``#id lost``; the selected
    target gets a thicker box."""
    thickness = 3 if selected else 2
    if lost:
        out = draw_dashed_rect(frame, box, LOST_COLOR, thickness)
        return draw_box(out, box, f"#{target_id} lost {score:.2f}", LOST_COLOR, thickness=0)
    return draw_box(frame, box, f"#{target_id} {score:.2f}", color_for(target_id), thickness)


def draw_status(frame: np.ndarray, top: str, bottom: str = "") -> np.ndarray:
    """Copy of ``frame`` with a status line at the top-left and an optional help line at the
    bottom-left (both on dark backgrounds)."""
    out = draw_text(frame, top) if top else frame.copy()
    if bottom:
        out = draw_text(out, bottom, (8, frame.shape[0] - 10))
    return out


def draw_targets(frame: np.ndarray, results: Sequence, selected: int | None = None) -> np.ndarray:
    """Copy of ``frame`` with every result (``.box``, ``.target_id``, ``.score``, ``.lost``)
    drawn by ``draw_target``; ``selected`` is the id drawn thicker."""
    out = frame
    for r in results:
        out = draw_target(out, r.box, r.target_id, r.score, r.lost, r.target_id == selected)
    return out if out is not frame else frame.copy()
