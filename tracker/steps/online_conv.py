"""The online model's second form: a small convolutional filter per target, on a sample memory.

Fitted by conjugate-gradient steps on a weighted sample memory (ATOM, Danelljan et al. 2019;
DiMP, Bhat et al. 2019 fit theirs by steepest descent on the same loss).

Where ``online.py`` solves a circular correlation filter frequency by frequency (every
position of the windowed crop in its support), this filter has a compact support of
``online_kernel`` x ``online_kernel`` feature cells over the same projected features (the
first ``online_channels`` principal components of the embedding and, with
``online_shallow``, the shallow stride-8 stage), with no window and no circular wrap. With
x_m the projected features of memory sample m, y_m its Gaussian label, w_m its weight,

    min_f  sum_m w_m || f * x_m - y_m ||^2 + lambda || f ||^2,

lambda = ``online_reg`` x sum_m w_m ||x_m||^2 (the spatial twin of ``online.py``'s relative
regularisation). The memory holds ``online_memory`` samples (ATOM's and DiMP's memories):
the first frame's augmented crops, then each confidently tracked frame's chosen crop, which
enters with weight ``online_lr`` while the others decay by 1 - ``online_lr`` and replaces the
sample of least weight once the memory is full (ECO's and ATOM's simple rule; the weights are
then renormalised to sum to 1). Every
``online_interval`` learning frames the filter takes ``online_steps`` conjugate-gradient
steps on the normal equations from its last value.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_weight

from ..config import TrackerConfig
from ..crops import FrameCrops
from ..targets import Targets
from .online import AUGMENTATIONS, OnlineModel, to_response_grid, uses_online
from .features import Features


def project(feat: torch.Tensor, proj: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) features, (B, C, d) projections -> (B, d, h, w)."""
    return torch.einsum("bchw,bcd->bdhw", feat, proj)


def conv_response(filt: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(n, m, h, w) responses of each target's filter ``filt`` (n, d, k, k), k odd, on its m
    maps ``x`` (n, m, d, h, w) (same-size output: zero padding of k // 2)."""
    n, m, d, h, w = x.shape
    inp = x.transpose(0, 1).reshape(m, n * d, h, w)
    return F.conv2d(inp, filt, padding=filt.shape[-1] // 2, groups=n).transpose(0, 1)


def filter_gradient(x: torch.Tensor, out: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """(n, d, k, k) = sum_m x_m (*) out_m: the adjoint of ``conv_response`` for maps ``x``
    (n, m, d, h, w) against outputs ``out`` (n, m, h, w)."""
    n, m, d, h, w = x.shape
    inp = x.transpose(0, 1).reshape(m, n * d, h, w)
    return conv2d_weight(inp, shape, out.transpose(0, 1).contiguous(),
                         padding=shape[-1] // 2, groups=n)


def fit(x: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, filt: torch.Tensor,
        reg: float, steps: int) -> torch.Tensor:
    """``steps`` conjugate-gradient steps on the normal equations of the weighted ridge
    regression of every target at once, from ``filt`` (n, d, k, k); memory samples ``x``
    (n, m, d, h, w), ``labels`` (n, m, h, w), ``weights`` (n, m) (0: an empty slot)."""
    wgt = weights[:, :, None, None]
    energy = (weights * (x ** 2).sum((2, 3, 4))).sum(1)                          # (n,)
    lam = (reg * energy).clamp_min(1e-12)[:, None, None, None]
    shape = filt.shape

    def apply(v: torch.Tensor) -> torch.Tensor:
        return filter_gradient(x, wgt * conv_response(v, x), shape) + lam * v

    def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).sum((1, 2, 3), keepdim=True)

    res = filter_gradient(x, wgt * labels, shape) - apply(filt)
    p, rr = res, dot(res, res)
    for _ in range(steps):
        ap = apply(p)
        alpha = rr / dot(p, ap)
        alpha = torch.where(torch.isfinite(alpha), alpha, torch.zeros_like(alpha))
        filt = filt + alpha * p
        res = res - alpha * ap
        rr_next = dot(res, res)
        beta = rr_next / rr
        beta = torch.where(torch.isfinite(beta), beta, torch.zeros_like(beta))
        p, rr = res + beta * p, rr_next
    return filt


class ConvFilterModel(OnlineModel):
    """The convolutional filters of all targets (state in ``Targets.cf_*``: projections,
    memory samples, labels, weights, filters, gains), with ``OnlineModel``'s interface."""

    def start(self, img: FrameCrops, center: np.ndarray, size: np.ndarray, z_sz: np.ndarray,
              z_feat: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ``Targets.cf_*`` fields of n new targets (as ``OnlineModel.start``): the memory
        (n, M, d, H, W) holds the first frame's k augmented samples, each of weight 1 / k."""
        cfg, n, k = self.cfg, len(center), len(AUGMENTATIONS)
        layers, feat, proj, labels = self.first_samples(img, center, size, z_sz)
        d, (h, w) = proj.shape[-1], feat.shape[-2:]
        x = project(feat, proj.repeat(k, 1, 1)).view(k, n, d, h, w).transpose(0, 1)
        memory = x.new_zeros(n, cfg.online_memory, d, h, w)
        memory[:, :k] = x
        marks = labels.new_zeros(n, cfg.online_memory, h, w)
        marks[:, :k] = labels.view(k, n, h, w).transpose(0, 1)
        weights = x.new_zeros(n, cfg.online_memory)
        weights[:, :k] = 1.0 / k
        size_k = cfg.online_kernel
        filt = fit(memory, marks, weights, x.new_zeros(n, d, size_k, size_k), cfg.online_reg,
                   2 * d)
        own = to_response_grid(conv_response(filt, x[:, :1])[:, 0], cfg.response_size)
        return {"cf_proj": proj, "cf_memory": memory, "cf_labels": marks, "cf_weights": weights,
                "cf_filter": filt, "cf_gain": self.gain(z_feat, layers[0][:n], own)}

    def samples(self, feat: torch.Tensor, proj: torch.Tensor, size: tuple[int, int]
                ) -> torch.Tensor:
        """The projected features (B, d, H, W): no window, no spectra."""
        return project(feat, proj)

    def maps(self, filters: torch.Tensor, x: torch.Tensor, size: tuple[int, int]
             ) -> torch.Tensor:
        """(n, s, H, W) responses of each target's conv filter on its s maps."""
        return conv_response(filters, x)

    def learn(self, targets: Targets, use: np.ndarray, x: torch.Tensor, disp: np.ndarray,
              sigma: np.ndarray, size: tuple[int, int]) -> None:
        """Put a sample of weight ``online_lr`` (then renormalised) into the memories of the
        targets ``use`` (N,) bool, in place of their least-weighted samples, and refine their
        filters every ``online_interval`` calls: the chosen crops' projected features ``x``
        (N, d, H, W), the targets displaced ``disp`` (N, 2) (row, col) response cells from
        the crop's centre, labels ``sigma`` (N,) cells wide."""
        picked = self.labelled(use, disp, sigma, size, x.device)
        if picked is None:
            return
        (idx, labels), t, cfg = picked, targets, self.cfg
        weights = t.cf_weights[idx] * (1 - cfg.online_lr)
        slot = torch.argmin(weights, dim=1)                                          # (r,)
        weights[torch.arange(len(idx), device=x.device), slot] = cfg.online_lr
        weights = weights / weights.sum(1, keepdim=True)          # ECO's: they sum to 1
        t.cf_weights[idx] = weights
        t.cf_memory[idx, slot] = x[idx]
        t.cf_labels[idx, slot] = labels
        if self.due():
            t.cf_filter[idx] = fit(t.cf_memory[idx], t.cf_labels[idx], weights, t.cf_filter[idx],
                                   cfg.online_reg, cfg.online_steps)


def online_model(cfg: TrackerConfig, features: Features, box_head: bool) -> OnlineModel | None:
    """The online model of ``cfg.online_form`` a tracker with ``cfg`` runs (None: none)."""
    if not uses_online(cfg, box_head):
        return None
    return (ConvFilterModel if cfg.online_form == "conv" else OnlineModel)(cfg, features)
