"""Dev-set validation during training: success AUC of the tracker with the current weights."""
from __future__ import annotations

import os
from typing import Callable

import torch

from ..config import TrackerConfig
from ..datasets import read_otb
from ..evaluation.experiment import track_sequence
from ..evaluation.metrics import evaluate_sequence, overall
from ..siamfc import SiamFCTracker


def make_validator(root: str | os.PathLike, names: list[str] | None = None,
                   device: str = "cpu", preset: str = "siamfc-3s") -> Callable[[torch.nn.Module], float]:
    """A function scoring a ``SiamNet`` on the OTB-layout sequences under ``root``
    (overall success AUC, got10k protocol). Sequences are read once, here."""
    sequences = read_otb(root, names)
    if not sequences:
        raise ValueError(f"no validation sequences in {root}" + (f" named {names}" if names else ""))

    def validate(model: torch.nn.Module) -> float:
        # the tracker works on its own BN-folded copy: ``model`` is left as it is
        tracker = SiamFCTracker(model, config=TrackerConfig.preset(preset), device=device,
                                runtime="torch")
        results = []
        for seq in sequences:
            boxes, times, _ = track_sequence(tracker, seq)
            results.append(evaluate_sequence(boxes, seq.boxes, times))
        return overall(results).success_score

    return validate
