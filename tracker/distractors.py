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

import torch
import torch.nn.functional as F

from .confidence import peak_neighbourhood


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
