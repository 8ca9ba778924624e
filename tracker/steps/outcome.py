"""What one tracking step returns for N targets: where they go and what their response showed."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class StepOutcome:
    """The step's answer for N targets, in the order of their rows (frame px).

    center: (N, 2) new cx, cy; size: (N, 2) new w, h; z_sz: (N,) new exemplar side;
    peak: (N,) sigmoid of the chosen peak logit (the paper's score); scale: (N,) the chosen
    scale factor (the box head: the change of the box's geometric-mean side); cues: (N, 5)
    peak, psr, margin, apce, cosine of the chosen raw map (``scoring.raw_cues``, before the
    target's reference is applied); found: with ``distractors``, the (embeddings (N, k, C, h, w),
    logits (N, k), -inf for none) of the look-alike peaks seen, else None; sample: with the
    online model, what it learns from (``OnlineModel.learn``): the chosen crops' spectra
    (N, C, H, Wr), the targets' displacement from those crops' centres (N, 2) (row, col)
    response cells, the label widths (N,) cells and the (H, W) feature size; else None.
    """

    center: np.ndarray
    size: np.ndarray
    z_sz: np.ndarray
    peak: np.ndarray
    scale: np.ndarray
    cues: np.ndarray
    found: tuple[torch.Tensor, torch.Tensor] | None = None
    sample: tuple[torch.Tensor, np.ndarray, np.ndarray, tuple[int, int]] | None = None
