"""Re-detection: a lost target searches the frame with one wide crop per frame at its last scale.

SiamFC only searches near the last position, so a target that left the search region is rarely
found again. While a target is lost (``redetect``) the tracker runs one wide search crop per
frame (see ``TrackerConfig.redetect_factor``), visiting these centres in turn: the last
confident position first, then tiles covering the whole frame, nearest first
(``search_centres``); ``WideSearch`` runs the crop and moves the target when it scores well.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..config import TrackerConfig
from ..confidence import ScoreModel
from ..crops import FrameCrops
from ..diagnostics.profiling import StageTimer
from ..targets import Targets
from .exclusion import keep_apart_wide
from .features import Features
from .scoring import raw_cues, reference_free_cues


def search_centres(frame_hw: tuple[int, int], last_centre: tuple[float, float],
                   side: float, overlap: float = 0.25) -> np.ndarray:
    """(K, 2) (cx, cy) px: ``last_centre`` first, then a grid of square tiles of ``side`` px
    that covers the (H, W) frame with the given fractional ``overlap``, nearest first."""
    h, w = frame_hw
    if side <= 0 or not math.isfinite(side):
        raise ValueError(f"tile side must be a positive number of pixels, got {side}")
    step = side * (1 - overlap)

    def axis(length: int) -> np.ndarray:
        if length <= side:
            return np.array([(length - 1) / 2])
        n = math.ceil((length - side) / step) + 1
        return np.linspace(side / 2 - 0.5, length - side / 2 - 0.5, n)

    gx, gy = np.meshgrid(axis(w), axis(h))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    first = np.asarray(last_centre, dtype=np.float64)[None]
    order = np.argsort(np.hypot(*(grid - first).T), kind="stable")
    return np.concatenate([first, grid[order]])


def peak_to_frame(peak_rc: tuple[int, int], response_size: int, crop_centre: np.ndarray,
                  crop_side: float, crop_px: int, total_stride: int) -> np.ndarray:
    """(cx, cy) frame px of response cell ``peak_rc`` (row, col) of a ``response_size``-wide map
    computed on a ``crop_px`` crop of side ``crop_side`` frame px centred on ``crop_centre``."""
    centre = (response_size - 1) / 2
    disp = np.array([peak_rc[1] - centre, peak_rc[0] - centre]) * total_stride   # crop px
    return np.asarray(crop_centre, dtype=np.float64) + disp * crop_side / crop_px


def wide_side(targets: Targets, i: int, cfg: TrackerConfig) -> float:
    """Frame px covered by target ``i``'s wide-search crop (at its last confident scale)."""
    return float(targets.good[i, 4] * cfg.wide_size / cfg.exemplar_size)


def start_tour(targets: Targets, i: int, hw: tuple[int, int], cfg: TrackerConfig) -> None:
    """Set newly lost target ``i``'s wide-search tour: from its last confident position, then
    tiles over the (H, W) frame."""
    tile = wide_side(targets, i, cfg) * (1 - cfg.exemplar_size / cfg.wide_size)
    targets.tiles[i] = search_centres(hw, tuple(targets.good[i, :2]), tile)
    targets.tile_next[i] = 0


class WideSearch:
    """Re-detection (``redetect``): one wide search crop per frame for each lost target."""

    def __init__(self, cfg: TrackerConfig, features: Features, timer: StageTimer) -> None:
        self.cfg, self.features, self.timer = cfg, features, timer

    def recover(self, img: FrameCrops, targets: Targets, score_model: ScoreModel,
                hw: tuple[int, int], scores: np.ndarray, peaks: np.ndarray,
                cues: np.ndarray) -> None:
        """Every lost target searches the next centre of its tour; one whose wide search scores
        at least ``recover_threshold`` and above its normal step moves there, at its last
        confident size, and its ``scores`` (N,), ``peaks`` (N,) and ``cues`` (N, len(CUES))
        become the wide map's."""
        for i in np.flatnonzero(targets.lost):
            found = self(img, targets, int(i), hw, float(scores[i]), score_model)
            if found is not None:
                scores[i], peaks[i], cues[i] = found

    def __call__(self, img: FrameCrops, targets: Targets, i: int, hw: tuple[int, int],
                 tracked_score: float, score_model: ScoreModel
                 ) -> tuple[float, float, np.ndarray] | None:
        """One wide search for lost target ``i`` at the next centre of its tour. When its score
        is at least ``recover_threshold`` and above ``tracked_score`` (the normal step's), the
        target moves there, at its last confident size, and the score, peak score and cues of
        the wide map are returned; else None."""
        cfg, t = self.cfg, targets
        tiles = t.tiles[i]
        centre = tiles[t.tile_next[i] % len(tiles)]
        t.tile_next[i] += 1
        side = wide_side(t, i, cfg)
        with self.timer.stage("redetect"):
            x_feat = self.features.search(img(centre[None], np.array([side]), cfg.wide_size))
            resp = keep_apart_wide(self.features.model.response(t.z_feat[i:i + 1], x_feat)[0, 0],
                                   t, i, centre, side, cfg)     # not onto another target
            flat = int(torch.argmax(resp))
            found, _ = raw_cues(resp[None], t.z_feat[i:i + 1], x_feat, t.good[i:i + 1, 2:4],
                                cfg.wide_size / side, cfg.total_stride)
            found = found.double().numpy()
        peak = float(torch.sigmoid(resp.reshape(-1)[flat]))
        cues = reference_free_cues(t, i, found)
        score = float(score_model.score(cues[None])[0])
        if score < cfg.recover_threshold or score <= tracked_score:
            return None
        moved = peak_to_frame(divmod(flat, resp.shape[1]), resp.shape[0], centre, side,
                              cfg.wide_size, cfg.total_stride)
        t.center[i] = np.clip(moved, 0, [hw[1] - 1, hw[0] - 1])
        t.size[i], t.z_sz[i] = t.good[i, 2:4], t.good[i, 4]
        return score, peak, cues
