"""Labels and losses for SiamFC training on (B, 1, 17, 17) response logits."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def label_map(size: int, center: tuple[float, float], radius_cells: float) -> np.ndarray:
    """(size, size) float32 labels: 1 where a cell lies within ``radius_cells`` of ``center``.

    ``center`` is the target position in response cells, (col, row), the map centre being
    ((size-1)/2, (size-1)/2); the paper's radius is 16 px / stride 8 = 2 cells.
    """
    coords = np.arange(size, dtype=np.float32)
    dx = coords[None, :] - center[0]
    dy = coords[:, None] - center[1]
    return (np.sqrt(dx ** 2 + dy ** 2) <= radius_cells).astype(np.float32)


def balanced_weights(labels: torch.Tensor) -> torch.Tensor:
    """Per-cell weights giving positives and negatives of each map half the total weight each.

    labels: (B, 1, h, w) in {0, 1}; maps with no positives give all weight to negatives.
    """
    pos = labels.flatten(1).sum(1).view(-1, 1, 1, 1)
    neg = labels[0].numel() - pos
    w_pos = torch.where(pos > 0, 0.5 / pos.clamp(min=1), torch.zeros_like(pos))
    w_neg = torch.where(pos > 0, 0.5 / neg.clamp(min=1), 1.0 / neg.clamp(min=1))
    return labels * w_pos + (1 - labels) * w_neg


def logistic_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Class-balanced logistic loss, mean over maps (Bertinetto et al. 2016, eq. 2)."""
    weights = balanced_weights(labels)
    loss = F.binary_cross_entropy_with_logits(logits.float(), labels, weight=weights,
                                              reduction="none")
    return loss.flatten(1).sum(1).mean()


def triplet_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Triplet loss on response maps (Dong & Shen, ECCV 2018).

    For each map, every (positive cell p, negative cell n) pair contributes
    -log(exp(v_p) / (exp(v_p) + exp(v_n))) = softplus(v_n - v_p), averaged over pairs.
    Maps without positives (negative pairs) fall back to the logistic loss on their cells.
    """
    v = logits.float().flatten(1)                       # (B, M)
    y = labels.flatten(1)
    pos = y > 0.5
    diff = v[:, None, :] - v[:, :, None]                # [b, p, n] = v_n - v_p
    mask = (pos[:, :, None] & ~pos[:, None, :]).float()
    pairs = mask.flatten(1).sum(1)
    per_map = (F.softplus(diff) * mask).flatten(1).sum(1) / pairs.clamp(min=1)
    has_pos = pairs > 0
    if (~has_pos).any():
        neg_only = F.binary_cross_entropy_with_logits(v, y, reduction="none").mean(1)
        per_map = torch.where(has_pos, per_map, neg_only)
    return per_map.mean()


CONTRASTIVE_MARGIN = 2.0


def contrastive_loss(logits: torch.Tensor, labels: torch.Tensor,
                     margin: float = CONTRASTIVE_MARGIN) -> torch.Tensor:
    """The contrastive loss of Hadsell, Chopra & LeCun (2006) on the response cells.

    Each cell's energy (its "distance" between exemplar and search window) is
    D = softplus(-v) = -log sigmoid(v) >= 0, zero for a certain match. Matching cells pay
    D^2 / 2, non-matching cells max(0, margin - D)^2 / 2 (pushed apart until D reaches the
    margin: v <= -1.85 for the default margin 2), weighted as the logistic loss weighs them
    (``balanced_weights``). logits, labels: (B, 1, h, w).
    """
    energy = F.softplus(-logits.float())
    per_cell = torch.where(labels > 0.5, energy ** 2, F.relu(margin - energy) ** 2) / 2
    return (per_cell * balanced_weights(labels)).flatten(1).sum(1).mean()


def distill_loss(logits: torch.Tensor, teacher_logits: torch.Tensor,
                 labels: torch.Tensor) -> torch.Tensor:
    """Distillation: per-cell Bernoulli KL(teacher || student) of the response scores.

    logits, teacher_logits, labels: (B, 1, h, w). The cells are weighted as in the logistic
    loss (``balanced_weights(labels)``), so the few cells on the target count as much as the
    background; zero when the student's logits equal the teacher's.
    """
    if logits.shape != teacher_logits.shape:
        raise ValueError(f"student response {tuple(logits.shape)} and teacher response "
                         f"{tuple(teacher_logits.shape)} differ; use the same crop sizes")
    target = torch.sigmoid(teacher_logits.float())
    cross = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
    entropy = F.binary_cross_entropy_with_logits(teacher_logits.float(), target, reduction="none")
    return ((cross - entropy) * balanced_weights(labels)).flatten(1).sum(1).mean()


LOSSES = {"logistic": logistic_loss, "triplet": triplet_loss, "contrastive": contrastive_loss}
