"""The one-crop scale estimate: DSST's one-dimensional scale filter (Danelljan et al. 2014).

With ``scale_estimate="filter"`` the network sees one search crop per frame (the centre scale)
instead of SiamFC's pyramid of ``num_scales``; the size comes from this filter instead:
  1. around the new centre, cut the target's region at 33 scales (``step ** -16 .. 16`` of its
     current size), each resized to the target's model size (area at most 512 px at init);
  2. describe each by gradient-orientation histograms in 4 px cells (9 unsigned bins, cell
     normalised) and the cell's mean grey level, one vector per scale, Hann-windowed over scale;
  3. correlate with the learned filter along the scale axis (Fourier domain, per feature,
     summed): the peak's scale is the size change;
  4. learn at the new size (the same sampling, shifted along the scale axis: ``track``):
     numerator ``conj(G) X`` and denominator ``sum |X|^2`` averaged with rate
     ``scale_filter_lr`` (DSST's 0.025), ``G`` a Gaussian of width sqrt(33) / 4 scales.
Everything is numpy on the host: 33 small warps and a (D, 33) FFT per target, about 1.5 ms a
frame on a 2-core AMD EPYC (``siamfc bench``'s ``scale`` stage).
"""
from __future__ import annotations

import cv2
import numpy as np

from ..geometry import scale_factors
from ..targets import Targets

NUM_SCALES = 33          # DSST's
MODEL_AREA = 512.0       # px: the largest model patch (DSST's scale_model_max_area)
CELL = 4                 # px per histogram cell
BINS = 9                 # unsigned orientations
MIN_SIDE = 2 * CELL      # px: the smallest model side (two cells)
LAMBDA = 1e-2            # DSST's regularisation


def to_gray(frame: np.ndarray) -> np.ndarray:
    """(H, W) uint8 grey levels of an (H, W, 3) uint8 BGR frame: what the filter reads."""
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def model_size(size: np.ndarray) -> np.ndarray:
    """(2,) w, h px of a target at init -> (2,) int model patch w, h: the same aspect ratio,
    area at most ``MODEL_AREA``, each side at least ``MIN_SIDE`` and a multiple of ``CELL``."""
    size = np.asarray(size, dtype=np.float64)
    factor = min(1.0, float(np.sqrt(MODEL_AREA / max(size.prod(), 1e-9))))
    return np.maximum(MIN_SIDE, np.round(size * factor / CELL) * CELL).astype(np.int64)


def scale_patches(gray: np.ndarray, center: np.ndarray, size: np.ndarray, factors: np.ndarray,
                  model_wh: np.ndarray) -> np.ndarray:
    """(S, mh, mw) float32 patches of the (H, W) uint8 or float32 ``gray`` frame: the (w, h)
    ``size`` region x each of the (S,) ``factors`` around ``center`` (cx, cy) px, resized to
    ``model_wh`` (edge pixels repeated outside the frame)."""
    mw, mh = int(model_wh[0]), int(model_wh[1])
    out = np.empty((len(factors), mh, mw), dtype=np.float32)
    for i, f in enumerate(factors):
        ax, ay = mw / (size[0] * f), mh / (size[1] * f)
        m = np.array([[ax, 0.0, (mw - 1) / 2 - ax * center[0]],
                      [0.0, ay, (mh - 1) / 2 - ay * center[1]]])
        out[i] = cv2.warpAffine(gray, m, (mw, mh), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
    return out


def scale_features(patches: np.ndarray) -> np.ndarray:
    """(S, mh, mw) grey patches (0-255) -> (S, D) descriptors, D = cells x (BINS + 1): per 4 px
    cell, the gradient-magnitude histogram over BINS unsigned orientations (L2-normalised)
    and the cell's mean grey level (/255). (Magnitudes and angles from OpenCV's
    ``cartToPolar``, angles within about 0.3 degrees: a tenth of numpy's time for them.)"""
    s, h, w = patches.shape
    gx = np.zeros_like(patches)
    gy = np.zeros_like(patches)
    gx[:, :, 1:-1] = patches[:, :, 2:] - patches[:, :, :-2]
    gy[:, 1:-1, :] = patches[:, 2:, :] - patches[:, :-2, :]
    mag, angle = cv2.cartToPolar(gx.reshape(-1, w), gy.reshape(-1, w))       # angle in [0, 2 pi)
    bins = (angle * np.float32(BINS / np.pi)).astype(np.int64) % BINS         # unsigned
    ch, cw = h // CELL, w // CELL
    cell = ((np.arange(h) // CELL)[:, None] * cw + (np.arange(w) // CELL)[None, :])   # (h, w)
    cells = (np.arange(s)[:, None] * (ch * cw) + cell.ravel()[None]).ravel()           # (S*h*w,)
    hist = np.bincount(cells * BINS + bins.ravel(), mag.ravel(),
                       s * ch * cw * BINS).reshape(s, ch * cw, BINS)
    hist /= np.sqrt(np.einsum("scb,scb->sc", hist, hist))[..., None] + 1e-3
    mean = np.bincount(cells, patches.ravel(), s * ch * cw).reshape(s, ch * cw, 1) / CELL ** 2
    return np.concatenate([hist, mean / 255.0], axis=2).reshape(s, -1)


def scale_label(num_scales: int = NUM_SCALES) -> np.ndarray:
    """(S,) complex spectrum of DSST's Gaussian label over scales (width sqrt(S) / 4), its peak
    at the middle index (the current scale), so a response's peak index is a factor's."""
    offsets = np.arange(num_scales) - num_scales // 2
    return np.fft.fft(np.exp(-0.5 * offsets ** 2 / (np.sqrt(num_scales) / 4) ** 2))


class ScaleFilter:
    """DSST's scale filter for each target; its state is kept in ``Targets`` (``sf_*``)."""

    def __init__(self, step: float, lr: float, num_scales: int = NUM_SCALES) -> None:
        self.factors = scale_factors(num_scales, step)                             # (S,)
        self.window = np.hanning(num_scales + 2)[1:-1]     # all weights > 0, peak at the centre
        self.label = scale_label(num_scales)
        self.lr = lr

    def descriptors(self, gray: np.ndarray, center: np.ndarray, size: np.ndarray,
                    model_wh: np.ndarray) -> np.ndarray:
        """(S, D) descriptors of one target's region at each scale around ``center``."""
        return scale_features(scale_patches(gray, center, size, self.factors, model_wh))

    def _spectrum(self, feats: np.ndarray) -> np.ndarray:
        """(D, S) spectra over scale of (S, D) descriptors, Hann-windowed."""
        return np.fft.fft(feats.T * self.window[None], axis=1)

    def _best(self, x: np.ndarray, num: np.ndarray, den: np.ndarray) -> int:
        """The index of the best scale of the (D, S) spectra ``x`` under one filter."""
        return int(np.argmax(np.fft.ifft((np.conj(num) * x).sum(axis=0) / (den + LAMBDA)).real))

    def _blend(self, x: np.ndarray, nums: list[np.ndarray], dens: list[np.ndarray], i: int,
               rate: float) -> None:
        """Filter ``i`` (in place) <- (1 - rate) x itself + rate x the (D, S) sample ``x``'s."""
        nums[i] = (1 - rate) * nums[i] + rate * np.conj(self.label)[None] * x
        dens[i] = (1 - rate) * dens[i] + rate * (x * np.conj(x)).real.sum(axis=0)

    def start(self, gray: np.ndarray, center: np.ndarray,
              size: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Filters of new targets at ``center`` / ``size`` ((n, 2) px): per target, its model
        size (2,), numerator (D, S) and denominator (S,)."""
        shapes = [model_size(s) for s in size]
        nums: list[np.ndarray] = [np.zeros(())] * len(size)      # 0-d: blended at rate 1
        dens: list[np.ndarray] = [np.zeros(())] * len(size)
        for i, (c, s) in enumerate(zip(center, size)):
            self._blend(self._spectrum(self.descriptors(gray, c, s, shapes[i])), nums, dens, i, 1.0)
        return shapes, nums, dens

    def estimate(self, gray: np.ndarray, center: np.ndarray, size: np.ndarray,
                 shapes: list[np.ndarray], nums: list[np.ndarray],
                 dens: list[np.ndarray]) -> np.ndarray:
        """(n,) size factors: each target's best scale around its new ``center`` (n, 2)."""
        return np.array([self.factors[self._best(
            self._spectrum(self.descriptors(gray, c, s, shapes[i])), nums[i], dens[i])]
            for i, (c, s) in enumerate(zip(center, size))])

    def learn(self, gray: np.ndarray, center: np.ndarray, size: np.ndarray, rows: np.ndarray,
              shapes: list[np.ndarray], nums: list[np.ndarray], dens: list[np.ndarray]) -> None:
        """Blend the samples at ``center`` / ``size`` (n, 2) of the targets ``rows`` into their
        filters (in place) with rate ``lr``."""
        for i in np.flatnonzero(rows):
            x = self._spectrum(self.descriptors(gray, center[i], size[i], shapes[i]))
            self._blend(x, nums, dens, i, self.lr)

    def track(self, gray: np.ndarray, t: Targets, center: np.ndarray, lo: np.ndarray,
              hi: np.ndarray) -> np.ndarray:
        """(n, 2) new w, h of the targets ``t`` moved to ``center`` (n, 2): their sizes x the
        filters' factors, clipped to [lo, hi] (n, 2); the filters then learn there (``estimate``
        then ``learn``, with one sampling per target: as the factors are geometric, the sample
        at the new size is the one just taken shifted along the scale axis, exactly but for
        the end scales it shifted in, which repeat the last one; a clipped size samples anew.
        Measured: otb-dev boxes byte-identical to sampling again, 0.8 ms less per target)."""
        sizes, s = t.size.copy(), len(self.factors)
        for i in range(len(t)):
            feats = self.descriptors(gray, center[i], t.size[i], t.sf_shape[i])
            k = self._best(self._spectrum(feats), t.sf_num[i], t.sf_den[i])
            wanted = t.size[i] * self.factors[k]
            sizes[i] = np.clip(wanted, lo[i], hi[i])
            if np.allclose(sizes[i], wanted):
                feats = feats[np.clip(np.arange(s) + k - s // 2, 0, s - 1)]
            else:
                feats = self.descriptors(gray, center[i], sizes[i], t.sf_shape[i])
            self._blend(self._spectrum(feats), t.sf_num, t.sf_den, i, self.lr)
        return sizes
