"""The lost state: low scores in a row flag a target lost, a confident score clears the flag."""
from __future__ import annotations

import numpy as np

from ..config import TrackerConfig
from ..targets import Targets
from .redetect import start_tour


def update_lost(targets: Targets, scores: np.ndarray, cfg: TrackerConfig,
                hw: tuple[int, int], taken: np.ndarray | None = None) -> None:
    """After a frame's (N,) ``scores``: ``lost_frames`` scores in a row below ``lost_threshold``
    set a target's flag, a score of at least ``lost_threshold`` clears it and records the
    target's box as its last confident one (``targets.good``); a target on another's object
    (``taken`` (N,) bool, see ``exclusion.py``) is flagged at once. With ``redetect`` a newly
    lost target starts its wide-search tour over the (H, W) ``hw`` frame (``redetect.py``)."""
    t = targets
    taken = np.zeros(len(scores), dtype=bool) if taken is None else taken
    confident = (scores >= cfg.lost_threshold) & ~taken
    t.low = np.where(confident, 0, t.low + 1)
    t.good[confident] = np.column_stack([t.center, t.size, t.z_sz])[confident]
    t.lost[confident] = False
    newly = ~t.lost & ((t.low >= cfg.lost_frames) | taken)
    t.lost |= newly
    if cfg.redetect:
        for i in np.flatnonzero(newly):
            start_tour(t, int(i), hw, cfg)
