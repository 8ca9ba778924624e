"""How well a tracker's confidence detects its own failures (pure numpy).

Per frame the tracker reports a ``score`` and a ``lost`` flag; the ground truth gives the IoU of
its box. The score is judged as a detector of failure: ROC-AUC for telling frames tracked
(IoU >= ``held``) from frames failed (IoU < ``failed``); the lost flag by the share of failures
(runs of IoU < ``failed`` lasting ``min_run`` frames or more) that it flags within ``within``
frames of their start, and by the share of well-tracked frames (IoU >= ``good``) it flags.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

HELD, FAILED, GOOD = 0.3, 0.1, 0.5
MIN_RUN, WITHIN = 10, 10


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (N,) for labels ``positive`` (N,) bool: the
    probability that a random positive outscores a random negative, ties counted half
    (Mann-Whitney U). NaN without both classes."""
    scores = np.asarray(scores, np.float64)
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    mean_rank = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(mean_rank, counts)
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def failure_runs(iou: np.ndarray, failed: float = FAILED, min_run: int = MIN_RUN
                 ) -> list[tuple[int, int]]:
    """[(start, stop), ...] frame ranges (stop exclusive) where IoU < ``failed`` for at least
    ``min_run`` frames in a row. NaN IoU (no ground truth) ends a run."""
    bad = np.asarray(iou, np.float64) < failed          # NaN compares False
    runs, start = [], None
    for i, b in enumerate(np.append(bad, False)):
        if b and start is None:
            start = i
        elif not b and start is not None:
            if i - start >= min_run:
                runs.append((start, i))
            start = None
    return runs


def flagged_within(lost: np.ndarray, runs: list[tuple[int, int]], within: int = WITHIN) -> int:
    """How many of ``runs`` have ``lost`` set on a frame in [start, start + within]."""
    lost = np.asarray(lost, bool)
    return sum(bool(lost[start:min(stop, start + within + 1)].any()) for start, stop in runs)


@dataclass(frozen=True)
class FailureStats:
    """Failure-detection figures of one tracker, pooled over sequences (frame 0 left out)."""

    frames: int
    roc_auc: float            # score: IoU >= held vs IoU < failed
    failures: int             # runs of IoU < failed lasting >= min_run frames
    flagged: int              # of which flagged lost within ``within`` frames
    good_frames: int          # frames with IoU >= good
    good_flagged: int         # of which flagged lost
    median_score_held: float
    median_score_failed: float

    @property
    def recall(self) -> float:
        return self.flagged / self.failures if self.failures else float("nan")

    @property
    def false_flag_rate(self) -> float:
        return self.good_flagged / self.good_frames if self.good_frames else float("nan")

    def as_dict(self) -> dict:
        return {**asdict(self), "recall": self.recall, "false_flag_rate": self.false_flag_rate}


def failure_stats(per_sequence: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                  held: float = HELD, failed: float = FAILED, good: float = GOOD,
                  min_run: int = MIN_RUN, within: int = WITHIN) -> FailureStats:
    """Pool ``(iou, score, lost)`` triples of (N_i,) arrays, one per sequence, frame 0 included
    (it is left out: it is the given box)."""
    ious, scores, losts = [], [], []
    failures = flagged = 0
    for iou, score, lost in per_sequence:
        iou = np.asarray(iou, np.float64)[1:]
        score = np.asarray(score, np.float64)[1:]
        lost = np.asarray(lost, bool)[1:]
        runs = failure_runs(iou, failed, min_run)
        failures += len(runs)
        flagged += flagged_within(lost, runs, within)
        ious.append(iou)
        scores.append(score)
        losts.append(lost)
    iou, score, lost = (np.concatenate(a) if a else np.zeros(0) for a in (ious, scores, losts))
    lost = lost.astype(bool)
    keep = np.isfinite(iou)
    iou, score, lost = iou[keep], score[keep], lost[keep]
    split = (iou >= held) | (iou < failed)
    well = iou >= good

    def median(mask: np.ndarray) -> float:
        return float(np.median(score[mask])) if mask.any() else float("nan")

    return FailureStats(int(len(iou)), roc_auc(score[split], iou[split] >= held), failures,
                        flagged, int(well.sum()), int((lost & well).sum()),
                        median(iou >= held), median(iou < failed))
