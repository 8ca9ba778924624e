"""What the tracker returns per target and frame: ``TrackResult``, built from the target state."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .confidence import CUES
from .geometry import cxcywh_to_ltwh
from .targets import Targets


@dataclass(frozen=True)
class TrackResult:
    """One target's state after a frame.

    box: 0-based (x, y, w, h) float pixels; score: confidence in [0, 1] that the box holds
    the target, from the tracker's ``ScoreModel`` over the response cues (see
    ``confidence.py``; without a fitted model, the sigmoid of the peak); scale: the chosen
    scale factor (with the box head: the change of the box's geometric-mean side);
    target_id: the id given at ``init``/``add``; lost: the score has stayed below the
    config's ``lost_threshold`` for ``lost_frames`` frames (and not come back above it
    since); peak: the sigmoid of the peak response logit (the paper's score);
    cues: the response cues by name (``confidence.CUES``), None on the first frame.
    """

    box: tuple[float, float, float, float]
    score: float
    scale: float
    target_id: int = 0
    lost: bool = False
    peak: float = 1.0
    cues: dict[str, float] | None = None


def track_results(targets: Targets, scores: np.ndarray, scales: np.ndarray, peaks: np.ndarray,
                  cues: np.ndarray) -> list[TrackResult]:
    """One ``TrackResult`` per target (row order) from the state after a frame and the frame's
    (N,) scores, scales, peaks and (N, len(CUES)) cues."""
    t = targets
    boxes = cxcywh_to_ltwh(np.concatenate([t.center, t.size], axis=1))
    return [TrackResult(tuple(float(v) for v in boxes[i]), float(scores[i]), float(scales[i]),
                        t.ids[i], bool(t.lost[i]), float(peaks[i]),
                        dict(zip(CUES, map(float, cues[i]))))
            for i in range(len(t))]
