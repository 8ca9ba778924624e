"""Distractor-aware matching (after DaSiamRPN, Zhu et al. 2018), for the SiamFC response.

While a target is tracked confidently, strong secondary peaks of its response (local maxima
outside the target's neighbourhood, within ``distractor_gap`` logits of the peak) are
"distractors": things that look like it. Their embeddings, the search-feature windows under
those peaks, go to a small memory per target (first in, first out). The response used to
place the target is then

    f(z, x) - alpha * sum_i w_i f(d_i, x) / sum_i w_i

with ``w_i`` the sigmoid of each distractor's peak when it was stored. The correlation is
linear in the template, so this is one correlation with the template ``z - alpha * D``,
``D = sum_i w_i d_i / sum_i w_i``: no extra cost per frame.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..confidence import peak_neighbourhood
from ..targets import Targets


def secondary_peaks(resp: torch.Tensor, radius: torch.Tensor, gap: float, k: int
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Up to ``k`` distractor peaks per map of ``resp`` (N, H, W) logits: local maxima (3x3)
    outside the ``radius`` (N,) cell neighbourhood of the map's peak, with a logit above 0 and
    at least the peak minus ``gap``. Returns rows, cols (N, k) int64 and logits (N, k), with
    logits -inf where there is no such peak."""
    n, h, w = resp.shape
    peak, near = peak_neighbourhood(resp, radius)
    local_max = F.max_pool2d(resp[:, None], 3, stride=1, padding=1)[:, 0] == resp
    ok = local_max & ~near & (resp > 0) & (resp >= (peak - gap).view(n, 1, 1))
    masked = torch.where(ok, resp, torch.full_like(resp, -torch.inf)).reshape(n, -1)
    logits, where = masked.topk(min(k, h * w), dim=1)
    return where // w, where % w, logits


def push(memory: torch.Tensor, weights: torch.Tensor, new: torch.Tensor, new_weights: torch.Tensor,
         size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Memory (m, C, hz, wz) with weights (m,) after adding ``new`` (j, ...) / ``new_weights``
    (j,), keeping the latest ``size`` entries."""
    memory = torch.cat([memory, new])[-size:] if size > 0 else memory[:0]
    weights = torch.cat([weights, new_weights])[-size:] if size > 0 else weights[:0]
    return memory, weights


def template(memory: torch.Tensor, weights: torch.Tensor) -> torch.Tensor | None:
    """The weighted mean distractor (C, hz, wz) of a memory; None when it is empty."""
    if len(memory) == 0:
        return None
    w = weights / weights.sum()
    return (memory * w.view(-1, 1, 1, 1)).sum(dim=0)


def placed_response(head: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], targets: Targets,
                    z_feat: torch.Tensor, x_feat: torch.Tensor, resp: torch.Tensor,
                    weight: float) -> torch.Tensor:
    """The response ``head(z - weight * D, x)`` of all targets (exemplar features ``z_feat``
    (N, C, h, w), search features ``x_feat`` (N*S, C, H, W)), with D each target's weighted mean
    distractor; ``resp`` (the plain response) itself when no target has one."""
    t = targets
    means = [template(t.d_feat[i], t.d_weight[i]) for i in range(len(t))]
    if all(m is None for m in means):
        return resp
    d = torch.stack([torch.zeros_like(z_feat[0]) if m is None else m for m in means])
    return head(z_feat - weight * d, x_feat)


def remember(targets: Targets, confident: np.ndarray, embeddings: torch.Tensor,
             logits: torch.Tensor, size: int) -> None:
    """Store the distractors (``embeddings`` (N, k, C, h, w), ``logits`` (N, k), -inf for none)
    seen by the targets that are ``confident`` (N,) in their memories of ``size`` entries."""
    t = targets
    for i in range(len(t)):
        keep = torch.isfinite(logits[i])
        if confident[i] and bool(keep.any()):
            t.d_feat[i], t.d_weight[i] = push(t.d_feat[i], t.d_weight[i], embeddings[i][keep],
                                              torch.sigmoid(logits[i][keep]), size)
