"""The confidence step: a target's response cues, taken against its own reference peak."""
from __future__ import annotations

import numpy as np
import torch

from ..confidence import cosine_at_peak, neighbourhood_radius, response_cues
from ..targets import Targets


def raw_cues(raw: torch.Tensor, z_feat: torch.Tensor, x_feat: torch.Tensor, size_px: np.ndarray,
             zoom: np.ndarray | float, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The cues of N chosen maps ``raw`` (N, R, R) logits, computed on search features
    ``x_feat`` (N, C, H, W) with exemplar features ``z_feat`` (N, C, h, w): (N, 5) peak, psr,
    margin, apce, cosine (``confidence.py``), and the (N,) near-peak radius in cells they used,
    half the targets' sizes ``size_px`` (N, 2) frame px on the response grid (``zoom``: crop px
    per frame px, (N,) or one number)."""
    radius = torch.from_numpy(neighbourhood_radius(size_px, zoom, stride, raw.shape[-1]))
    cues = torch.cat([response_cues(raw, radius), cosine_at_peak(z_feat, x_feat, raw)[:, None]],
                     dim=1)
    return cues, radius


def relative_cues(targets: Targets, cues: np.ndarray, reference_frames: int) -> np.ndarray:
    """(N, len(CUES)) cues of all N targets from (N, 5) ``raw_cues``, with ``relative`` (the
    peak minus the target's reference peak, 0 before it has one) put second; the first
    ``reference_frames`` peaks of a target build its reference (``targets.ref_sum``,
    ``ref_count``)."""
    t = targets
    peak = cues[:, 0]
    count = t.ref_count
    relative = np.where(count > 0, peak - t.ref_sum / np.maximum(count, 1), 0.0)
    building = count < reference_frames
    t.ref_sum += np.where(building, peak, 0.0)
    t.ref_count += building
    return np.column_stack([peak, relative, cues[:, 1:]])


def reference_free_cues(targets: Targets, i: int, cues: np.ndarray) -> np.ndarray:
    """(len(CUES),) cues of target ``i`` from (1, 5) ``raw_cues``, with ``relative`` against its
    reference but without adding to it (a re-detection's candidate)."""
    t = targets
    ref = t.ref_sum[i] / t.ref_count[i] if t.ref_count[i] else cues[0, 0]
    return np.concatenate([[cues[0, 0], cues[0, 0] - ref], cues[0, 1:]])
