"""Tracking metrics, as the GOT-10k toolkit's ExperimentOTB computes them (pure numpy).

Boxes are (N, 4) 0-based x, y, w, h. Frames whose ground truth is NaN (absent target) are
left out. Curves are averaged over sequences, not frames, for overall scores.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import iou_ltwh

SUCCESS_THRESHOLDS = np.linspace(0, 1, 21)          # IoU thresholds (strictly greater)
PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64)   # centre error px (<=)
NORM_PRECISION_THRESHOLDS = np.linspace(0, 0.5, 51)  # normalised centre error (<=)


def center_error(boxes: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) Euclidean distance between centres x + (w - 1) / 2, y + (h - 1) / 2, px."""
    boxes, gt = np.asarray(boxes, np.float64), np.asarray(gt, np.float64)
    c1 = boxes[:, :2] + (boxes[:, 2:] - 1) / 2
    c2 = gt[:, :2] + (gt[:, 2:] - 1) / 2
    return np.sqrt(((c1 - c2) ** 2).sum(axis=1))


def normalized_center_error(boxes: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) centre error with each axis divided by the ground-truth size (LaSOT style)."""
    boxes, gt = np.asarray(boxes, np.float64), np.asarray(gt, np.float64)
    c1 = boxes[:, :2] + (boxes[:, 2:] - 1) / 2
    c2 = gt[:, :2] + (gt[:, 2:] - 1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((((c1 - c2) / gt[:, 2:]) ** 2).sum(axis=1))


def success_curve(ious: np.ndarray, thresholds: np.ndarray = SUCCESS_THRESHOLDS) -> np.ndarray:
    """Fraction of frames with IoU strictly greater than each threshold."""
    return np.mean(np.asarray(ious)[:, None] > thresholds[None, :], axis=0)


def precision_curve(errors: np.ndarray, thresholds: np.ndarray = PRECISION_THRESHOLDS) -> np.ndarray:
    """Fraction of frames with centre error <= each threshold."""
    return np.mean(np.asarray(errors)[:, None] <= thresholds[None, :], axis=0)


def valid_frames(gt: np.ndarray) -> np.ndarray:
    """(N,) bool: ground-truth rows that are finite with positive size (target present)."""
    gt = np.asarray(gt, np.float64)
    return np.all(np.isfinite(gt), axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)


@dataclass(frozen=True)
class SequenceResult:
    """Curves and scores of one tracker on one sequence."""

    success_curve: np.ndarray
    precision_curve: np.ndarray
    norm_precision_curve: np.ndarray
    speed_fps: float = -1.0

    @property
    def success_score(self) -> float:
        return float(np.mean(self.success_curve))

    @property
    def precision_score(self) -> float:
        return float(self.precision_curve[20])

    @property
    def success_rate(self) -> float:
        return float(self.success_curve[len(self.success_curve) // 2])

    @property
    def norm_precision_score(self) -> float:
        return float(np.mean(self.norm_precision_curve))

    def as_dict(self) -> dict:
        return {"success_curve": self.success_curve.tolist(),
                "precision_curve": self.precision_curve.tolist(),
                "norm_precision_curve": self.norm_precision_curve.tolist(),
                "success_score": self.success_score, "precision_score": self.precision_score,
                "success_rate": self.success_rate,
                "norm_precision_score": self.norm_precision_score, "speed_fps": self.speed_fps}


def evaluate_sequence(boxes: np.ndarray, gt: np.ndarray, times: np.ndarray | None = None
                      ) -> SequenceResult:
    """Score predicted ``boxes`` against ``gt`` (both (N, 4) ltwh).

    As got10k: the first prediction is replaced by the ground truth; absent (NaN) ground-truth
    frames are left out. ``times`` (N,) seconds per frame, the first (init) excluded from fps.
    """
    boxes = np.array(boxes, dtype=np.float64, copy=True)
    gt = np.asarray(gt, dtype=np.float64)
    if boxes.shape != gt.shape or boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes {boxes.shape} and ground truth {gt.shape} must both be (N, 4)")
    if len(gt) == 0:
        raise ValueError("empty sequence: no ground truth")
    boxes[0] = gt[0]
    keep = valid_frames(gt)
    b, g = boxes[keep], gt[keep]
    ious = iou_ltwh(b, g)
    ious = np.where(np.isfinite(ious), ious, 0.0)
    errors = center_error(b, g)
    errors = np.where(np.isfinite(errors), errors, np.inf)
    nerrors = normalized_center_error(b, g)
    nerrors = np.where(np.isfinite(nerrors), nerrors, np.inf)
    fps = -1.0
    if times is not None:
        t = np.asarray(times, dtype=np.float64)[1:]
        t = t[t > 0]
        if len(t):
            fps = float(len(t) / t.sum())
    return SequenceResult(success_curve(ious), precision_curve(errors),
                          precision_curve(nerrors, NORM_PRECISION_THRESHOLDS), fps)


def overall(results: list[SequenceResult]) -> SequenceResult:
    """Average the curves over sequences; speed is the mean of the per-sequence fps."""
    if not results:
        raise ValueError("no sequence results to average")
    speeds = [r.speed_fps for r in results if r.speed_fps > 0]
    return SequenceResult(np.mean([r.success_curve for r in results], axis=0),
                          np.mean([r.precision_curve for r in results], axis=0),
                          np.mean([r.norm_precision_curve for r in results], axis=0),
                          float(np.mean(speeds)) if speeds else -1.0)
