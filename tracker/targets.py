"""The multi-target tracker's per-target state: one structure of arrays, one row per target.

Every field holds N rows (N targets, in id order): numpy arrays and torch tensors along their
first axis, lists item by item. ``select`` and ``concat`` treat all fields alike, so a new
per-target field is declared here once and nothing else lists the fields again.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from .steps.regression import IDENTITY_CALIBRATION


@dataclass
class Targets:
    """State of N targets (frame px; boxes as centre and size)."""

    ids: list[int] = field(default_factory=list)                      # (N,) target ids
    center: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))     # (N, 2) cx, cy
    size: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))       # (N, 2) w, h
    base_size: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (N, 2) w, h at init
    z_sz: np.ndarray = field(default_factory=lambda: np.zeros(0))            # (N,) exemplar side
    z_feat: torch.Tensor | None = None                                 # (N, C, 6, 6); None if N = 0
    low: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))   # (N,) frames
    #   in a row below lost_threshold
    lost: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))      # (N,)
    good: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))  # (N, 5) last confident
    #   cx, cy, w, h, z_sz
    tiles: list[np.ndarray] = field(default_factory=list)   # (N,) wide-search centres while lost
    tile_next: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # (N,)
    ref_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))   # (N,) sum of the peak
    #   logits of the first updates (the target's own reference peak, see confidence.py)
    ref_count: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # (N,)
    d_feat: list[torch.Tensor] = field(default_factory=list)    # (N,) distractor memories,
    #   each (m, C, h, w) like z_feat (see steps/distractors.py)
    d_weight: list[torch.Tensor] = field(default_factory=list)  # (N,) their weights, (m,)
    box_cal: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # (N, 4) lines
    #   through which the box head's regressed w, h are read (identity unless ``box_gain`` or
    #   ``box_calibration`` is on; see steps/regression.py)
    cf_proj: torch.Tensor | None = None    # the online model (steps/online.py), (N, 0) while
    #   it is off: (N, C, d) projections of the search features,
    cf_rhs: torch.Tensor | None = None     # (N, F, d) complex: its regression's r = sum x conj(Y),
    cf_stats: torch.Tensor | None = None   # (N, F, d, d) complex: S = sum x x^H,
    cf_filter: torch.Tensor | None = None  # (N, F, d) complex: its filters
    cf_gain: torch.Tensor | None = None    # (N,) response gains
    cf_memory: torch.Tensor | None = None  # its conv form (steps/online_conv.py; else (N, 0)):
    #   (N, M, d, H, W) memory samples,
    cf_labels: torch.Tensor | None = None  # (N, M, H, W) their labels,
    cf_weights: torch.Tensor | None = None  # (N, M) their weights (0: an empty slot)
    sf_shape: list[np.ndarray | None] = field(default_factory=list)  # (N,) the scale filter
    #   (steps/scale_filter.py; None while it is off): model patch w, h (2,),
    sf_num: list[np.ndarray | None] = field(default_factory=list)    # (N,) (D, S) numerators,
    sf_den: list[np.ndarray | None] = field(default_factory=list)    # (N,) (S,) denominators

    @classmethod
    def start(cls, ids: Sequence[int], center: np.ndarray, size: np.ndarray, z_sz: np.ndarray,
              z_feat: torch.Tensor) -> "Targets":
        """New targets at ``center`` / ``size`` ((n, 2) px) with exemplar side ``z_sz`` (n,) px
        and exemplar features ``z_feat`` (n, C, h, w): confident, not lost."""
        n = len(ids)
        return cls(list(ids), center, size, size.copy(), z_sz, z_feat,
                   np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool),
                   np.column_stack([center, size, z_sz]), [np.zeros((0, 2)) for _ in range(n)],
                   np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros(n, dtype=np.int64),
                   [z_feat[:0] for _ in range(n)], [z_feat.new_zeros(0) for _ in range(n)],
                   np.tile(IDENTITY_CALIBRATION, (n, 1)), *(torch.zeros(n, 0) for _ in range(4)),
                   torch.zeros(n), *(torch.zeros(n, 0) for _ in range(3)),
                   *([None] * n for _ in range(3)))

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, keep: Sequence[int] | np.ndarray) -> "Targets":
        """The targets at row indices ``keep``, in that order."""
        rows = np.asarray(keep, dtype=np.int64).reshape(-1)
        return Targets(**{f.name: _take(getattr(self, f.name), rows)
                          for f in dataclasses.fields(self)})

    def concat(self, other: "Targets") -> "Targets":
        """These targets followed by ``other``'s."""
        return Targets(**{f.name: _join(getattr(self, f.name), getattr(other, f.name))
                          for f in dataclasses.fields(self)})


def _take(value: Any, rows: np.ndarray) -> Any:
    if isinstance(value, np.ndarray):
        return value[rows]
    if value is None:
        return None
    if isinstance(value, torch.Tensor):        # no rows: None, as for no targets
        return value[torch.from_numpy(rows).to(value.device)] if len(rows) else None
    return [value[i] for i in rows]


def _join(a: Any, b: Any) -> Any:
    if isinstance(a, np.ndarray):
        return np.concatenate([a, b])
    if a is None or b is None:
        return b if a is None else a
    if isinstance(a, torch.Tensor):
        return torch.cat([a, b])
    return list(a) + list(b)
