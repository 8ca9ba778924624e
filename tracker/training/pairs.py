"""Training pairs: exemplar and search crops from two frames of a track, with augmentation.

Each sample is (z (3, 127, 127) float32, x (3, 255, 255) float32, labels (1, 17, 17) float32,
box (4,) float32), pixels BGR in [0, 255] as the tracker feeds them: the search crop the tracker
uses; ``box`` is the target's (cx, cy, w, h) in search-crop px (NaN for a negative pair), what
the box head learns. (The paper
trains on the central 239 px, 15x15 response; ``instance_size=239`` does that, about 12% less
compute, but scored lower on otb-dev here; see weights/README.md.) The label disc is centred
where the target really lies in the search crop (shifts are known), radius 16 px.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import dataclass_from_dict, is_number
from ..geometry import context_size, ltwh_to_cxcywh
from .losses import label_map
from .sequences import TrainSequence


_CHANNEL_MEAN = np.full((1, 3), 1 / 3, np.float32)
MAX_READ_TRIES = 20   # unreadable pairs in a row before giving up


@dataclass(frozen=True)
class PairConfig:
    """Pair sampling and augmentation settings (sizes in px of the resized crops)."""

    exemplar_size: int = 127
    instance_size: int = 255     # 239: the paper's central crop of the 255 px region
    total_stride: int = 8
    context: float = 0.5
    max_gap: int = 100           # original frames between exemplar and search
    positive_radius: float = 16  # px in the search crop
    neg_prob: float = 0.2        # exemplar and search from different sequences
    shift: float = 12.0          # max search-crop shift, px of the 255 crop
    scale_jitter: float = 0.05   # log-uniform, both axes together
    aspect_jitter: float = 0.05  # log-uniform stretch between axes
    flip_prob: float = 0.5       # both crops mirrored
    gray_prob: float = 0.1       # both crops grey
    color_jitter: float = 0.2    # brightness/contrast/saturation amplitude
    blur_prob: float = 0.1       # search crop blurred
    occlude_prob: float = 0.1    # a mean-coloured patch over part of the search crop

    def __post_init__(self) -> None:
        def check(cond: bool, msg: str) -> None:
            if not cond:
                raise ValueError(f"PairConfig: {msg}")

        for key in ("exemplar_size", "instance_size", "total_stride", "max_gap"):
            value = getattr(self, key)
            check(isinstance(value, int) and not isinstance(value, bool) and value > 0,
                  f"{key} must be a positive integer, got {value!r}")
        check(self.instance_size > self.exemplar_size
              and (self.instance_size - self.exemplar_size) % self.total_stride == 0,
              f"instance_size - exemplar_size must be a positive multiple of total_stride "
              f"({self.total_stride}), got {self.instance_size} - {self.exemplar_size}")
        for key in ("neg_prob", "flip_prob", "gray_prob", "blur_prob", "occlude_prob"):
            value = getattr(self, key)
            check(is_number(value) and 0 <= value <= 1,
                  f"{key} is a probability in [0, 1], got {value!r}")
        for key in ("context", "positive_radius", "shift", "scale_jitter", "aspect_jitter",
                    "color_jitter"):
            value = getattr(self, key)
            check(is_number(value) and math.isfinite(value) and value >= 0,
                  f"{key} must be a finite number >= 0, got {value!r}")
        check(self.positive_radius > 0, "positive_radius must be > 0")
        check(self.color_jitter < 1, f"color_jitter must be < 1, got {self.color_jitter}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "PairConfig":
        """Build from a mapping; unknown keys raise ``ValueError``."""
        return dataclass_from_dict(cls, values)

    @property
    def response_size(self) -> int:
        return (self.instance_size - self.exemplar_size) // self.total_stride + 1


#: the box heads' pair settings (``siamfc train --head box`` or ``xcorr-box``): they regress the
#: box from one search crop, so their pairs vary the target's size, shape and position in that
#: crop much more. With a scale jitter of 0.25 a head on frozen features learned to guess the
#: usual size (its log size followed the true one with slope 0.18, the ``box_size_slope``
#: column of metrics.csv); 0.6 gave 0.68 within 7 more epochs
BOX_PAIRS = {"scale_jitter": 0.6, "aspect_jitter": 0.5, "shift": 32.0}


def _warp(img: np.ndarray, cx: float, cy: float, sw: float, sh: float, out: int,
          pad: np.ndarray) -> np.ndarray:
    """Rectangle of sw x sh px centred on (cx, cy) resized to out x out (bilinear, mean pad)."""
    ax, ay = out / sw, out / sh
    m = np.array([[ax, 0, (out - 1) / 2 - ax * cx], [0, ay, (out - 1) / 2 - ay * cy]])
    return cv2.warpAffine(img, m, (out, out), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(float(v) for v in pad))


class PairDataset(Dataset):
    """Random pairs from ``sequences`` (uniform over sequences), ``length`` per epoch.

    Sampling is deterministic given ``seed``, the epoch (``set_epoch``) and the index.
    ``weights`` optionally gives each sequence a sampling weight (mixing several roots).
    """

    def __init__(self, sequences: list[TrainSequence], length: int, config: PairConfig = PairConfig(),
                 seed: int = 0, weights: np.ndarray | None = None) -> None:
        if not sequences:
            raise ValueError("PairDataset needs at least one sequence")
        self.sequences = sequences
        self.length = length
        self.cfg = config
        self.seed = seed
        self.epoch = 0
        self.valid = [np.flatnonzero(s.valid()) for s in sequences]
        w = np.ones(len(sequences)) if weights is None else np.asarray(weights, dtype=np.float64)
        self.probs = w / w.sum()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    # -- sampling ---------------------------------------------------------------------------
    def sample_pair(self, rng: np.random.Generator) -> tuple[int, int, int, int, bool]:
        """(seq_z, frame_z, seq_x, frame_x, negative) indices into ``sequences``."""
        sz = int(rng.choice(len(self.sequences), p=self.probs))
        seq = self.sequences[sz]
        valid = self.valid[sz]
        fz = int(rng.choice(valid))
        negative = len(self.sequences) > 1 and rng.random() < self.cfg.neg_prob
        if negative:
            sx = int(rng.choice(len(self.sequences) - 1))
            sx = sx + 1 if sx >= sz else sx
            fx = int(rng.choice(self.valid[sx]))
            return sz, fz, sx, fx, True
        gaps = np.abs(seq.indices[valid] - seq.indices[fz])
        near = valid[gaps <= self.cfg.max_gap]
        fx = int(rng.choice(near))
        return sz, fz, sz, fx, False

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        """(z, x, labels, box, skipped): ``skipped`` counts unreadable frames passed over
        (int64)."""
        rng = np.random.default_rng((self.seed, self.epoch, index))
        skipped = 0
        for _ in range(MAX_READ_TRIES):
            sz, fz, sx, fx, negative = self.sample_pair(rng)
            img_z = cv2.imread(self.sequences[sz].frames[fz], cv2.IMREAD_COLOR)
            img_x = cv2.imread(self.sequences[sx].frames[fx], cv2.IMREAD_COLOR)
            if img_z is not None and img_x is not None:
                break
            skipped += (img_z is None) + (img_x is None)
        else:
            raise RuntimeError(f"could not read {MAX_READ_TRIES} training pairs in a row (last "
                               f"tried {self.sequences[sz].frames[fz]}); check the data")
        z, x, labels, box = self.make_pair(img_z, self.sequences[sz].boxes[fz],
                                           img_x, self.sequences[sx].boxes[fx], negative, rng)
        return (torch.from_numpy(z).permute(2, 0, 1), torch.from_numpy(x).permute(2, 0, 1),
                torch.from_numpy(labels)[None], torch.from_numpy(box), torch.tensor(skipped))

    # -- crops and augmentation ----------------------------------------------------------------
    def make_pair(self, img_z: np.ndarray, box_z: np.ndarray, img_x: np.ndarray,
                  box_x: np.ndarray, negative: bool, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Crop and augment one pair; returns HWC float32 crops, the (17, 17) label map and
        the target's (cx, cy, w, h) in the search crop (px; NaN when ``negative``)."""
        c = self.cfg
        cz = ltwh_to_cxcywh(box_z)
        s_z = float(context_size(cz[2], cz[3], c.context))
        mean_z = np.array(cv2.mean(img_z)[:3])
        z = _warp(img_z, cz[0], cz[1], s_z, s_z, c.exemplar_size, mean_z)

        cx = ltwh_to_cxcywh(box_x)
        s_x = float(context_size(cx[2], cx[3], c.context)) * c.instance_size / c.exemplar_size
        scale = math.exp(rng.uniform(-c.scale_jitter, c.scale_jitter))
        aspect = math.exp(rng.uniform(-c.aspect_jitter, c.aspect_jitter))
        sw, sh = s_x * scale * aspect, s_x * scale / aspect
        # shift in output px -> source px; the target then sits at -shift in the crop
        dx, dy = rng.uniform(-c.shift, c.shift, size=2)
        mean_x = np.array(cv2.mean(img_x)[:3])
        x = _warp(img_x, cx[0] + dx * sw / c.instance_size, cx[1] + dy * sh / c.instance_size,
                  sw, sh, c.instance_size, mean_x)
        tx, ty = -dx, -dy   # target offset from the crop centre, px of the crop

        if rng.random() < c.flip_prob:
            z, x, tx = z[:, ::-1], x[:, ::-1], -tx
        z = z.astype(np.float32)
        x = x.astype(np.float32)
        if rng.random() < c.gray_prob:
            z = np.repeat(cv2.cvtColor(z, cv2.COLOR_BGR2GRAY)[..., None], 3, axis=2)
            x = np.repeat(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY)[..., None], 3, axis=2)
        z = self._color(z, rng)
        x = self._color(x, rng)
        if rng.random() < c.blur_prob:
            x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 2.0))
        if rng.random() < c.occlude_prob:
            x = self._occlude(x, rng)

        size = c.response_size
        centre = (size - 1) / 2
        if negative:
            labels = np.zeros((size, size), np.float32)
            box = np.full(4, np.nan, np.float32)
        else:
            labels = label_map(size, (centre + tx / c.total_stride, centre + ty / c.total_stride),
                               c.positive_radius / c.total_stride)
            middle = (c.instance_size - 1) / 2
            box = np.array([middle + tx, middle + ty, cx[2] * c.instance_size / sw,
                            cx[3] * c.instance_size / sh], np.float32)
        return np.ascontiguousarray(z), np.ascontiguousarray(x), labels, box

    def _color(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Saturation, contrast and brightness jitter of an HWC float32 BGR crop (in place)."""
        a = self.cfg.color_jitter
        if a <= 0:
            return img
        brightness = rng.uniform(-a, a) * 64
        contrast = 1 + rng.uniform(-a, a)
        saturation = 1 + rng.uniform(-a, a)
        gray = cv2.transform(img, _CHANNEL_MEAN)[..., None]   # mean of B, G, R per pixel
        img -= gray                      # saturation: scale the distance from grey
        img *= saturation
        img += gray
        mean = sum(cv2.mean(img)[:3]) / 3
        img *= contrast                  # contrast about the mean, then brightness
        img += (1 - contrast) * mean + brightness
        return np.clip(img, 0, 255, out=img)

    def _occlude(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = img.shape[0]
        w, h = (rng.uniform(0.15, 0.35, size=2) * n).astype(int)
        x0, y0 = rng.integers(0, n - w), rng.integers(0, n - h)
        img = img.copy()
        img[y0:y0 + h, x0:x0 + w] = np.array(cv2.mean(img)[:3]) + rng.normal(0, 20, 3)
        return img
