"""OTB's spatial robustness evaluation (SRE, Wu et al. 2013): every target tracked again from
perturbed first boxes, so that a comparison does not rest on one run from one box.

The 12 perturbations: the box shifted by 10% of its width and/or height in 8 directions
(left, right, up, down and the four diagonals) and scaled about its centre by 0.8, 0.9, 1.1
and 1.2. Each gives a copy of the sequence named ``<name>.sreKK`` (KK = 01..12) whose
``init`` is the perturbed box; the ground truth, and so the scoring, stay the sequence's own
(got10k's rule replaces the first box by the ground truth). The mean success AUC over the
copies is the SRE score.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..datasets.base import Sequence

SHIFT = 0.1                 # of the box's width / height
#: (dx, dy, scale) of each perturbation: dx, dy in box widths / heights
PERTURBATIONS: tuple[tuple[float, float, float], ...] = (
    (-SHIFT, 0.0, 1.0), (SHIFT, 0.0, 1.0), (0.0, -SHIFT, 1.0), (0.0, SHIFT, 1.0),
    (-SHIFT, -SHIFT, 1.0), (SHIFT, -SHIFT, 1.0), (-SHIFT, SHIFT, 1.0), (SHIFT, SHIFT, 1.0),
    (0.0, 0.0, 0.8), (0.0, 0.0, 0.9), (0.0, 0.0, 1.1), (0.0, 0.0, 1.2),
)


def perturb_box(box: np.ndarray, dx: float, dy: float, scale: float) -> np.ndarray:
    """The (4,) 0-based x, y, w, h ``box`` with its centre moved by ``dx`` widths and ``dy``
    heights and its sides scaled by ``scale`` about that centre."""
    x, y, w, h = np.asarray(box, dtype=np.float64)
    cx, cy = x + w / 2 + dx * w, y + h / 2 + dy * h
    return np.array([cx - scale * w / 2, cy - scale * h / 2, scale * w, scale * h])


def spatial_robustness(sequences: list[Sequence]) -> list[Sequence]:
    """The 12 perturbed copies of each sequence (``<name>.sre01`` .. ``.sre12``), sequence by
    sequence; a sequence whose first box is not annotated (NaN) raises ``ValueError``."""
    out = []
    for seq in sequences:
        first = np.asarray(seq.boxes[0], dtype=np.float64)
        if not np.all(np.isfinite(first)):
            raise ValueError(f"{seq.name}: its first frame has no box to perturb (SRE needs one)")
        out += [replace(seq, name=f"{seq.name}.sre{k:02d}", init=perturb_box(first, *p))
                for k, p in enumerate(PERTURBATIONS, 1)]
    return out
