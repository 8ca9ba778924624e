"""How sure the tracker is that it still holds its target: cues from the response map, and the
one ``score`` in [0, 1] made from them.

The raw peak of a SiamFC response says "something here matches the exemplar"; a background patch
or a look-alike can match well too. The cues below also ask how the peak compares with the
target's own peaks in its first frames, and how far it stands out from the rest of the map:

- ``peak``: the largest response logit;
- ``relative``: ``peak`` minus the mean peak logit of the target's first ``reference_frames``
  updates (0 until there is one): a drop says the match got worse than the target's own;
- ``psr``: peak-to-sidelobe ratio, (peak - mean) / std of the cells outside the peak's
  neighbourhood (Bolme et al. 2010);
- ``margin``: ``peak`` minus the largest logit outside the peak's neighbourhood: a second
  strong peak (a look-alike) makes it small;
- ``apce``: average peak-to-correlation energy, (max - min)^2 / mean((r - min)^2) (Wang et
  al. 2017), of the logits;
- ``cosine``: the cosine similarity of the exemplar's features with the search features under
  the peak (a normalised cross-correlation): unlike the logit it does not grow with the
  contrast or feature energy of whatever is matched, only with the likeness of the pattern.

The neighbourhood is a square of ``radius`` cells around the peak (about half the target's
size). A ``ScoreModel`` (logistic, fitted on the training sequences: ``siamfc fit-score``)
turns the cues into the ``score``; without one the score is the sigmoid of the peak, as in
the paper's tracker.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

CUES = ("peak", "relative", "psr", "margin", "apce", "cosine")
FIELDS = ("cues", "weights", "mean", "std", "bias", "fitted")      # of a score model file


def peak_neighbourhood(resp: torch.Tensor, radius: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The peak (N,) of each of the N maps ``resp`` (N, H, W), and the (N, H, W) bool mask of
    the cells within ``radius`` (N,) cells of it (a square, Chebyshev distance)."""
    n, h, w = resp.shape
    peak, loc = resp.reshape(n, -1).float().max(dim=1)
    row, col = loc // w, loc % w
    rows = torch.arange(h, device=resp.device).view(1, h, 1)
    cols = torch.arange(w, device=resp.device).view(1, 1, w)
    r = radius.to(resp.device).view(n, 1, 1)
    near = ((rows - row.view(n, 1, 1)).abs() <= r) & ((cols - col.view(n, 1, 1)).abs() <= r)
    return peak, near


def response_cues(resp: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Cues of N response maps: ``resp`` (N, H, W) logits, ``radius`` (N,) cells (>= 0) of the
    peak's neighbourhood. Returns (N, 4) float32: peak, psr, margin, apce (``relative`` needs
    the target's history, ``cosine`` the features: ``cosine_at_peak``). Cells outside the
    neighbourhood must exist (radius < (min(H, W) - 1) / 2)."""
    n = resp.shape[0]
    flat = resp.reshape(n, -1).float()
    peak, near = peak_neighbourhood(resp, radius)
    side = (~near).reshape(n, -1).float()
    count = side.sum(dim=1).clamp_min(1)
    mean = (flat * side).sum(dim=1) / count
    var = (((flat - mean[:, None]) ** 2) * side).sum(dim=1) / count
    psr = (peak - mean) / (var.sqrt() + 1e-6)
    outside = torch.where(side.bool(), flat, torch.full_like(flat, -math.inf)).amax(dim=1)
    margin = peak - outside
    low = flat.amin(dim=1)
    apce = (peak - low) ** 2 / (((flat - low[:, None]) ** 2).mean(dim=1) + 1e-6)
    return torch.stack([peak, psr, margin, apce], dim=1)


def windows(feat: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, h: int, w: int
            ) -> torch.Tensor:
    """(N, k, C, h, w) windows ``feat[n, :, r:r + h, c:c + w]`` of features ``feat``
    (N, C, Hx, Wx) at response cells ``rows``/``cols`` (N, k): what a (C, h, w) template is
    correlated with at those cells. One gather on the device, no copy to the host."""
    n, k = rows.shape
    dev = feat.device
    r = rows.view(n, k, 1, 1) + torch.arange(h, device=dev).view(1, 1, h, 1)
    q = cols.view(n, k, 1, 1) + torch.arange(w, device=dev).view(1, 1, 1, w)
    picked = feat.permute(0, 2, 3, 1)[torch.arange(n, device=dev).view(n, 1, 1, 1), r, q]
    return picked.permute(0, 1, 4, 2, 3)                                  # (N, k, C, h, w)


def cosine_at_peak(z_feat: torch.Tensor, x_feat: torch.Tensor, resp: torch.Tensor) -> torch.Tensor:
    """(N,) cosine similarity of exemplar features ``z_feat`` (N, C, h, w) with the window of
    search features ``x_feat`` (N, C, Hx, Wx) under the peak of ``resp`` (N, Hx - h + 1,
    Wx - w + 1): the response cell (r, c) is the window ``x_feat[:, :, r:r + h, c:c + w]``."""
    n, _, h, w = z_feat.shape
    loc = resp.reshape(n, -1).argmax(dim=1)
    rows, cols = loc // resp.shape[2], loc % resp.shape[2]
    window = windows(x_feat, rows[:, None], cols[:, None], h, w)[:, 0]
    return torch.nn.functional.cosine_similarity(window.reshape(n, -1), z_feat.reshape(n, -1),
                                                 dim=1, eps=1e-8)


def neighbourhood_radius(size_px: np.ndarray, crop_px_per_frame_px: np.ndarray,
                         stride: int, response_size: int) -> np.ndarray:
    """(N,) int radius in response cells: half the target's geometric-mean side on the
    response grid, at least 1, and small enough to leave a border of cells outside it.
    ``size_px`` (N, 2) w, h frame px; ``crop_px_per_frame_px`` (N,) the search crop's zoom."""
    side = np.sqrt(np.prod(np.asarray(size_px, np.float64), axis=1)) * crop_px_per_frame_px
    most = max((response_size - 3) // 2, 0)
    return np.clip(np.round(0.5 * side / stride), 1, most).astype(np.int64)


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


@dataclass(frozen=True)
class ScoreModel:
    """score = sigmoid(bias + sum_k weights[k] * (cue_k - mean_k) / std_k) over ``cues``.

    ``mean``/``std`` standardise each cue (fitted with the weights); ``fitted`` says where
    the numbers come from. The default (``raw_peak``) is the sigmoid of the peak logit.
    """

    cues: tuple[str, ...] = ("peak",)
    weights: tuple[float, ...] = (1.0,)
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    bias: float = 0.0
    fitted: str = "none: the sigmoid of the raw peak"
    extra: Mapping[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        unknown = [c for c in self.cues if c not in CUES]
        if unknown:
            raise ValueError(f"ScoreModel: unknown cues {unknown}; known: {list(CUES)}")
        k = len(self.cues)
        if not (len(self.weights) == len(self.mean) == len(self.std) == k) or k == 0:
            raise ValueError("ScoreModel: cues, weights, mean and std must have the same, "
                             "non-zero length")
        values = [*self.weights, *self.mean, *self.std, self.bias]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise ValueError("ScoreModel: weights, mean, std and bias must be finite numbers")
        if any(s <= 0 for s in self.std):
            raise ValueError("ScoreModel: std must be positive")
        clash = sorted(set(self.extra) & set(FIELDS))
        if clash:
            raise ValueError(f"ScoreModel: extra keys {clash} clash with the model's fields")

    def columns(self) -> list[int]:
        """Indices of this model's cues in ``CUES`` order."""
        return [CUES.index(c) for c in self.cues]

    def logit(self, cues: np.ndarray) -> np.ndarray:
        """(N,) score logits of ``cues`` (N, len(CUES)) in ``CUES`` order."""
        x = np.asarray(cues, np.float64)[:, self.columns()]
        z = (x - np.asarray(self.mean)) / np.asarray(self.std)
        return self.bias + z @ np.asarray(self.weights, np.float64)

    def score(self, cues: np.ndarray) -> np.ndarray:
        """(N,) scores in [0, 1] of ``cues`` (N, len(CUES))."""
        return sigmoid(self.logit(cues))

    def to_dict(self) -> dict:
        return {"cues": list(self.cues), "weights": list(self.weights), "mean": list(self.mean),
                "std": list(self.std), "bias": self.bias, "fitted": self.fitted, **dict(self.extra)}

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, values: Mapping[str, object], source: str = "score model") -> "ScoreModel":
        known = set(FIELDS)
        try:
            return cls(tuple(values["cues"]), tuple(float(v) for v in values["weights"]),
                       tuple(float(v) for v in values["mean"]),
                       tuple(float(v) for v in values["std"]), float(values["bias"]),
                       str(values.get("fitted", "")),
                       {k: v for k, v in values.items() if k not in known})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: not a score model ({exc}); make one with "
                             "`siamfc fit-score`") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ScoreModel":
        """Read a model written by ``save``; ``ValueError`` naming ``path`` when it is not one."""
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the score model ({exc})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: not a score model; make one with `siamfc fit-score`")
        return cls.from_dict(values, str(path))


RAW_PEAK = ScoreModel()


def score_model_path(weights: str | os.PathLike, online: bool = False) -> Path:
    """The score model of the weights file for the tracker without (``<weights stem>.score.json``)
    or with the online target model (``<weights stem>.online.score.json``: its cues read the
    fused response), beside the weights file."""
    p = Path(weights)
    return p.with_name(p.stem + (".online.score.json" if online else ".score.json"))


def score_model_file(weights: str | os.PathLike, online: bool = False) -> Path | None:
    """The score model file a tracker reads for ``weights``: the one fitted for its setting,
    else (with the online model, for weights that have only the other) the plain one; None
    when there is none."""
    for path in ([score_model_path(weights, True)] if online else []) + [score_model_path(weights)]:
        if path.is_file():
            return path
    return None


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iterations: int = 50
                 ) -> tuple[np.ndarray, float]:
    """Weights (K,) and bias of an L2-regularised logistic regression of labels ``y`` (N,) in
    {0, 1} on standardised features ``x`` (N, K), by Newton's method; classes weighted to
    equal total weight."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or len(x) != len(y) or len(np.unique(y)) != 2:
        raise ValueError("fit_logistic: need (N, K) features and labels of both classes")
    pos = y.mean()
    sw = np.where(y > 0.5, 0.5 / pos, 0.5 / (1 - pos))
    a = np.column_stack([x, np.ones(len(x))])
    theta = np.zeros(a.shape[1])
    reg = np.full(a.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iterations):
        p = sigmoid(a @ theta)
        grad = a.T @ (sw * (p - y)) / len(y) + reg * theta
        hess = (a.T * (sw * p * (1 - p))) @ a / len(y) + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta[:-1], float(theta[-1])


def fit_score_model(cues: np.ndarray, labels: np.ndarray, use: Sequence[str],
                    fitted: str = "", **extra: object) -> ScoreModel:
    """A ``ScoreModel`` on the cue columns ``use`` of ``cues`` (N, len(CUES)), fitted to
    ``labels`` (N,) in {0, 1} (1: the target is held)."""
    cols = [CUES.index(c) for c in use]
    x = np.asarray(cues, np.float64)[:, cols]
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    w, b = fit_logistic((x - mean) / std, labels)
    return ScoreModel(tuple(use), tuple(map(float, w)), tuple(map(float, mean)),
                      tuple(map(float, std)), b, fitted, dict(extra))
