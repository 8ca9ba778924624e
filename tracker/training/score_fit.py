"""Fitting the tracker's score model (``confidence.ScoreModel``) on training sequences.

The training sequences are windows around the target, not videos, so the tracker cannot run
through them. Instead each sample is one real tracker update placed by hand: the tracker is
initialised on a frame, runs ``reference_frames`` updates on the next frames from the true box
(its reference peak), then is moved to a box and updated once on a frame:

- ``shifted``: a later frame of the same sequence, around the true box (small shift and size
  change, as after a frame of motion);
- ``near``: the same, shifted by 0.2-0.45 target context sides s_z (the target off-centre but
  within the response's reach, about 0.5 s_z);
- ``far``: the same, shifted by 1.2-1.6 s_z (the target outside the search crop, the tracker
  on the scene around it: the drifted-off case);
- ``foreign``: another sequence's frame, on its annotated object (a different object at the
  right scale: the look-alike case);
- ``background``: another sequence's frame at a random place.

Labels come from the result: the IoU of the updated box with the true box (0 on another
sequence's frame); IoU >= 0.3 is "held", < 0.1 "failed", others are left out (as in
``evaluation/failures.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

from ..confidence import CUES, ScoreModel, fit_score_model
from ..evaluation.failures import FAILED, HELD, roc_auc
from ..geometry import context_size, iou_ltwh
from ..siamfc import SiamFCMultiTracker
from .sequences import TrainSequence

KINDS = ("reference", "shifted", "near", "far", "foreign", "background")
SHIFTS = {"near": (0.2, 0.45), "far": (1.2, 1.6)}       # offsets, x the context side s_z


@dataclass(frozen=True)
class ScoreSamples:
    """N tracker updates: cues (N, len(CUES)), IoU of the box (N,), kind (N,) index into
    ``KINDS``, and sequence index (N,)."""

    cues: np.ndarray
    iou: np.ndarray
    kind: np.ndarray
    sequence: np.ndarray

    def labelled(self, held: float = HELD, failed: float = FAILED
                 ) -> tuple[np.ndarray, np.ndarray]:
        """(cues (M, len(CUES)), labels (M,) 1 held / 0 failed) without the in-between ones."""
        keep = (self.iou >= held) | (self.iou < failed)
        return self.cues[keep], (self.iou[keep] >= held).astype(np.float64)

    def save(self, path: str) -> None:
        np.savez(path, cues=self.cues, iou=self.iou, kind=self.kind, sequence=self.sequence)

    @classmethod
    def load(cls, path: str) -> "ScoreSamples":
        with np.load(path) as d:
            return cls(d["cues"], d["iou"], d["kind"], d["sequence"])


def _read(path: str) -> np.ndarray:
    frame = cv2.imread(path, cv2.IMREAD_COLOR)
    if frame is None:
        raise ValueError(f"{path}: cannot read image")
    return frame


def collect_samples(tracker: SiamFCMultiTracker, sequences: Sequence[TrainSequence],
                    exemplars: int = 2, shifted: int = 5, near: int = 3, far: int = 3,
                    foreign: int = 2, background: int = 2, seed: int = 0,
                    on_sequence: Callable[[], None] | None = None) -> ScoreSamples:
    """Place ``tracker`` by hand on ``sequences`` (see the module doc): per sequence
    ``exemplars`` initialisations, each followed by its reference updates and the given numbers
    of samples of each kind. Sequences with too few valid frames are skipped."""
    rng = np.random.default_rng(seed)
    k_ref = tracker.cfg.reference_frames
    usable = [s for s in sequences if int(s.valid().sum()) >= k_ref + 2]
    if len(usable) < 2:
        raise ValueError("need at least two training sequences with "
                         f"{k_ref + 2} or more annotated frames")
    cues, ious, kinds, seqs = [], [], [], []

    def place(frame: np.ndarray, box: np.ndarray, truth: np.ndarray | None, kind: str,
              seq_index: int) -> None:
        tracker.reposition(tracker.ids[0], box)
        result = tracker.update(frame)[0]
        cues.append([result.cues[c] for c in CUES])
        ious.append(float(iou_ltwh(np.asarray(result.box), truth)) if truth is not None else 0.0)
        kinds.append(KINDS.index(kind))
        seqs.append(seq_index)

    for si, seq in enumerate(usable):
        valid = np.flatnonzero(seq.valid())
        for _ in range(exemplars):
            start = int(rng.integers(0, len(valid) - k_ref - 1))
            first = valid[start]
            tracker.init(_read(seq.frames[first]), seq.boxes[first])
            for r in range(1, k_ref + 1):
                j = valid[start + r]
                place(_read(seq.frames[j]), seq.boxes[j], seq.boxes[j], "reference", si)
            later = valid[start + 1:]
            for kind, count in (("shifted", shifted), ("near", near), ("far", far)):
                for _ in range(count):
                    j = int(rng.choice(later))
                    truth = seq.boxes[j]
                    side = float(context_size(truth[2], truth[3], tracker.cfg.context))
                    if kind == "shifted":
                        shift = np.clip(rng.normal(0, 0.1, 2), -0.25, 0.25) * side
                        size = truth[2:] * np.exp(np.clip(rng.normal(0, 0.1), -0.2, 0.2))
                    else:
                        angle = rng.uniform(0, 2 * np.pi)
                        shift = rng.uniform(*SHIFTS[kind]) * side * np.array([np.cos(angle), np.sin(angle)])
                        size = truth[2:]
                    centre = truth[:2] + truth[2:] / 2 + shift
                    place(_read(seq.frames[j]), np.concatenate([centre - size / 2, size]),
                          truth, kind, si)
            own_size = seq.boxes[first][2:]
            for kind, count in (("foreign", foreign), ("background", background)):
                for _ in range(count):
                    other = usable[int(rng.choice([q for q in range(len(usable)) if q != si]))]
                    ov = np.flatnonzero(other.valid())
                    j = int(rng.choice(ov))
                    frame = _read(other.frames[j])
                    if kind == "foreign":
                        box = other.boxes[j]
                    else:
                        h, w = frame.shape[:2]
                        centre = rng.uniform([0, 0], [w, h])
                        box = np.concatenate([centre - own_size / 2, own_size])
                    place(frame, box, None, kind, si)
        if on_sequence is not None:
            on_sequence()
    return ScoreSamples(np.asarray(cues, np.float64), np.asarray(ious), np.asarray(kinds),
                        np.asarray(seqs))


def cue_aucs(samples: ScoreSamples) -> dict[str, float]:
    """ROC-AUC of each cue alone for held vs failed samples."""
    x, y = samples.labelled()
    return {c: roc_auc(x[:, k], y > 0.5) for k, c in enumerate(CUES)}


def fit(samples: ScoreSamples, use: Sequence[str], fitted: str = "", **extra: object) -> ScoreModel:
    """The score model on cues ``use``, fitted to the held / failed samples."""
    x, y = samples.labelled()
    return fit_score_model(x, y, use, fitted, **extra)


def held_out_auc(samples: ScoreSamples, use: Sequence[str], folds: int = 5) -> float:
    """ROC-AUC of a model on ``use`` fitted without the sequences it scores (sequence-wise
    ``folds``-fold cross-validation), pooled."""
    x_all, y_all = samples.labelled()
    keep = (samples.iou >= HELD) | (samples.iou < FAILED)
    groups = samples.sequence[keep] % folds
    scores = np.zeros(len(y_all))
    for f in range(folds):
        test = groups == f
        if test.all() or not test.any():
            continue
        model = fit_score_model(x_all[~test], y_all[~test], use)
        scores[test] = model.logit(x_all[test])
    return roc_auc(scores, y_all > 0.5)
