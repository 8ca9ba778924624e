"""The online target model: a correlation filter per target, learned from the video being tracked.

SiamFC compares every frame with the first frame's exemplar through a metric fixed offline;
it never learns what *this* target looks like against *this* background. Here each target
also has a discriminative correlation filter over the search features the backbone computes
anyway: a multi-channel ridge regression solved per frequency in the Fourier domain (Kiani
Galoogahi et al. 2013), on the features projected to their first ``online_channels``
principal components (as ECO, Danelljan et al. 2017, projects them). Per frequency f, with
x_t the projected, Hann-windowed spectra of sample t and Y_t its Gaussian label,

    S = sum_t w_t x_t x_t^H,    r = sum_t w_t x_t conj(Y_t),    (S + lambda I) h = r,
    response(z) = IFFT(h^H z),

lambda a regularisation relative to S's mean trace. (For one sample this is MOSSE / DSST's
closed form, Bolme et al. 2010, Danelljan et al. 2014.) Everything around the target in
the search crop (background, look-alikes) is a negative of the filter. The model starts from
augmented samples of the first frame (shifts, scales, rotations, blur, a flip: as ATOM and
DiMP initialise their target classifiers); then every frame scoring at least
``online_min_score`` enters S and r with weight ``online_lr`` (an exponentially decaying
sample memory), and h follows by a few preconditioned conjugate-gradient steps from its last
value (as ECO's updates). Its response, scaled per target to the siamese response's range on
the first frame, is added to the siamese logits on their 17x17 grid before the peak and the
scale are taken (``scale_search.py``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..config import TrackerConfig
from ..crops import FrameCrops
from ..targets import Targets
from .features import Features

# the first frame's samples: (dx, dy) shift in search-crop px, scale, rotation (degrees),
# blur sigma (crop px), horizontal flip
AUGMENTATIONS = (
    (0, 0, 1.0, 0, 0, False), (0, 0, 1.0, 0, 0, True),
    (16, 16, 1.0, 0, 0, False), (-16, 16, 1.0, 0, 0, False),
    (16, -16, 1.0, 0, 0, False), (-16, -16, 1.0, 0, 0, False),
    (0, 0, 0.93, 0, 0, False), (0, 0, 1.07, 0, 0, False),
    (0, 0, 1.0, 10, 0, False), (0, 0, 1.0, -10, 0, False),
    (0, 0, 1.0, 0, 2.0, False),
)


def uses_online(cfg: TrackerConfig, box_head: bool) -> bool:
    """Whether a tracker with ``cfg`` runs the online model: ``online``, and for the box heads'
    step also ``box_online``."""
    return cfg.online and (cfg.box_online or not box_head)


def hann2d(h: int, w: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(h, w) float32 Hann window with peak 1 (positive everywhere: the periodic form of size
    n + 1, so no row or column is zeroed)."""
    wy = torch.hann_window(h + 2, periodic=False, dtype=torch.float64)[1:-1]
    wx = torch.hann_window(w + 2, periodic=False, dtype=torch.float64)[1:-1]
    return (wy[:, None] * wx[None]).float().to(device)


def gaussian_labels(centres: torch.Tensor, sigma: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(n, h, w) float32 Gaussians of peak 1 centred on ``centres`` (n, 2) (row, col) cells,
    with widths ``sigma`` (n,) cells, wrapped around the borders (the filter is circular)."""
    rows = torch.arange(h, dtype=torch.float64, device=centres.device)
    cols = torch.arange(w, dtype=torch.float64, device=centres.device)
    c = centres.double()
    dr = torch.remainder(rows[None] - c[:, :1] + h / 2, h) - h / 2          # (n, h)
    dc = torch.remainder(cols[None] - c[:, 1:] + w / 2, w) - w / 2          # (n, w)
    s2 = (2 * sigma.double() ** 2)[:, None]
    return (torch.exp(-dr ** 2 / s2)[:, :, None] * torch.exp(-dc ** 2 / s2)[:, None, :]).float()


def normalised(layers: list[torch.Tensor]) -> torch.Tensor:
    """(B, C_l, h, w) feature layers -> (B, sum C_l, h, w), each layer scaled to a mean energy
    of 1 per position (a layer weighs the same whatever its channel count and range, as ECO
    normalises its layers)."""
    return torch.cat([x.float() * torch.rsqrt((x.float() ** 2).sum(1, keepdim=True)
                                              .mean((2, 3), keepdim=True) + 1e-12)
                      for x in layers], dim=1)


def principal_axes(feat: torch.Tensor, d: int) -> torch.Tensor:
    """(n, C, d) projections onto the first ``d`` principal axes (uncentred: the energy) of
    each of n (C, h, w) feature maps ``feat`` (n, C, h, w)."""
    flat = feat.flatten(2).double()                                          # (n, C, h*w)
    _, vectors = torch.linalg.eigh(flat @ flat.transpose(1, 2))              # ascending
    return vectors[:, :, -d:].flip(-1).float()


def spectra(feat: torch.Tensor, proj: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) features, (B, C, d) projections -> (B, h * (w // 2 + 1), d) complex spectra
    of the projected, windowed maps (frequencies first, channels last)."""
    x = torch.fft.rfft2(torch.einsum("bchw,bcd->bdhw", feat, proj) * window)
    return x.flatten(2).transpose(1, 2)


def sample_terms(x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The ridge regression's terms of samples ``x`` (n, F, d) with ``labels`` (n, h, w):
    r (n, F, d) = x conj(Y) and S (n, F, d, d) = x x^H."""
    y = torch.fft.rfft2(labels).flatten(1)                                   # (n, F)
    return x * torch.conj(y)[:, :, None], x[..., :, None] * torch.conj(x)[..., None, :]


def solve(stats: torch.Tensor, rhs: torch.Tensor, h: torch.Tensor, reg: float,
          steps: int) -> torch.Tensor:
    """``steps`` conjugate-gradient steps, Jacobi-preconditioned, on (S + lambda I) h = r for
    every target and frequency at once, from ``h`` (n, F, d); ``stats`` S (n, F, d, d), ``rhs``
    r (n, F, d); lambda = ``reg`` x the mean trace of S over frequencies.

    On the CPU the steps run in numpy (on the tensors' memory): torch's complex matrix-vector
    products and per-call overhead on these small arrays made them 3x slower (1.0 against
    0.31 ms for 84 frequencies of 32 channels, 5 steps, on a 2-core AMD EPYC)."""
    if stats.device.type != "cpu":
        return _conjugate_gradient(torch, stats, rhs, h, reg, steps)
    return torch.from_numpy(_conjugate_gradient(np, stats.numpy(), rhs.numpy(),
                                                h.resolve_conj().numpy(), reg, steps))


def _conjugate_gradient(xp, stats, rhs, h, reg: float, steps: int):
    """``solve`` on arrays of the module ``xp`` (numpy or torch: only what both share)."""
    diag = stats.diagonal(0, -2, -1).real                                     # (n, F, d)
    # (n, 1, 1); kept above 0 so that featureless samples (a black frame) give a 0 filter
    lam = (reg * diag.sum(-1).mean(-1)[:, None, None]).clip(min=1e-12)

    def apply(v):
        return (stats @ v[..., None])[..., 0] + lam * v

    def dot(a, b):
        return (a.conj() * b).sum(-1)[..., None]

    def finite(v):
        return xp.where(xp.isfinite(v), v, 0)

    inv = 1.0 / (diag + lam)
    res = rhs - apply(h)
    z = inv * res
    p = z
    rz = dot(res, z)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):   # -> 0 below
        for _ in range(steps):
            ap = apply(p)
            alpha = finite(rz / dot(p, ap))
            h = h + alpha * p
            res = res - alpha * ap
            z = inv * res
            rz_next = dot(res, z)
            beta = finite(rz_next / rz)
            p, rz = z + beta * p, rz_next
    return h


def blend(old: torch.Tensor, new: torch.Tensor, rate: float) -> torch.Tensor:
    """``(1 - rate) old + rate new``, in ``old``'s memory (a row gather's copy): torch's
    out-of-place complex scaling took 0.38 ms for one target's S, this 0.02."""
    return old.mul_(1 - rate).add_(new, alpha=rate)


def blend_rows(state: torch.Tensor, rows: torch.Tensor | None, sample: torch.Tensor,
               rate: float) -> torch.Tensor:
    """``blend`` ``sample`` into the ``rows`` of ``state`` (all of them, in place, for None)
    and return those rows (for one target's S of the default network, 2.5 MB: the row copies
    of a gather and a scatter were avoided)."""
    if rows is None:
        return blend(state, sample, rate)
    blended = blend(state[rows], sample, rate)
    state[rows] = blended
    return blended


def filter_response(h: torch.Tensor, z: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(..., h, w) responses of filters ``h`` (..., F, d) on spectra ``z`` (..., F, d) (the
    leading dimensions broadcast)."""
    rows, cols = size
    r = (torch.conj(h) * z).sum(-1)
    return torch.fft.irfft2(r.view(*r.shape[:-1], rows, cols // 2 + 1), s=size)


def to_response_grid(maps: torch.Tensor, response_size: int) -> torch.Tensor:
    """(B, h, w) maps on the search-feature grid -> (B, R, R) on the response grid, whose cell
    i lies at feature coordinate i + (h - R) / 2 (bilinear: a 2x2 mean at half cells)."""
    h = maps.shape[-1]
    offset = h - response_size
    if offset % 2:
        maps = F.avg_pool2d(maps[:, None], 2, stride=1)[:, 0]
    start = offset // 2
    return maps[:, start:start + response_size, start:start + response_size]


def feature_centres(disp_cells: torch.Tensor, h: int) -> torch.Tensor:
    """(n, 2) (row, col) feature cells of targets displaced ``disp_cells`` (n, 2) (row, col)
    response cells from the crop's centre."""
    return disp_cells + (h - 1) / 2


def label_sigma(size_px: np.ndarray, zoom: np.ndarray, stride: int, factor: float) -> np.ndarray:
    """(n,) Gaussian width in feature cells: ``factor`` x the target's geometric-mean side
    ``size_px`` (n, 2) frame px at ``zoom`` (n,) crop px per frame px, at least half a cell."""
    side = np.sqrt(np.prod(size_px, axis=1)) * zoom / stride
    return np.maximum(factor * side, 0.5)


def _spread(maps: torch.Tensor) -> torch.Tensor:
    """(n,) peak minus median of (n, R, R) maps."""
    flat = maps.flatten(1)
    return flat.amax(1) - flat.median(1).values


def augment(crops: torch.Tensor, scale: float, angle: float, blur: float, flip: bool
            ) -> torch.Tensor:
    """(B, 3, S, S) float crops rotated by ``angle`` degrees and scaled by ``scale`` about their
    centres (padding with each crop's mean), blurred (Gaussian of ``blur`` px) and flipped."""
    out = crops
    if scale != 1.0 or angle != 0:
        a = math.radians(angle)
        theta = torch.tensor([[math.cos(a) / scale, -math.sin(a) / scale, 0.0],
                              [math.sin(a) / scale, math.cos(a) / scale, 0.0]],
                             dtype=torch.float32, device=crops.device)
        grid = F.affine_grid(theta.expand(len(out), 2, 3), list(out.shape), align_corners=False)
        mean = out.mean(dim=(2, 3), keepdim=True)
        out = F.grid_sample(out - mean, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False) + mean
    if blur > 0:
        r = int(math.ceil(3 * blur))
        k = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32, device=crops.device) ** 2
                      / (2 * blur ** 2))
        k = (k / k.sum()).view(1, 1, 1, -1).repeat(out.shape[1], 1, 1, 1)
        out = F.conv2d(F.pad(out, (r, r, 0, 0), mode="replicate"), k, groups=out.shape[1])
        out = F.conv2d(F.pad(out, (0, 0, r, r), mode="replicate"), k.transpose(2, 3),
                       groups=out.shape[1])
    if flip:
        out = out.flip(-1)
    return out.contiguous(memory_format=torch.channels_last)


class OnlineModel:
    """The correlation filters of all targets (state in ``Targets.cf_*``): ``start`` on the
    first frame, ``respond`` inside the step, ``learn`` after the frame is scored."""

    def __init__(self, cfg: TrackerConfig, features: Features) -> None:
        self.cfg, self.features = cfg, features
        self._window: torch.Tensor | None = None
        self._calls = 0

    def due(self) -> bool:
        """Count a learning frame; whether the filters are refined on it (every
        ``online_interval``-th)."""
        self._calls += 1
        return self._calls % self.cfg.online_interval == 0

    @staticmethod
    def labelled(use: np.ndarray, disp: np.ndarray, sigma: np.ndarray, size: tuple[int, int],
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The rows of the targets ``use`` (N,) bool that learn, on ``device``, and their
        (r, H, W) labels: Gaussians ``sigma`` (N,) cells wide, displaced ``disp`` (N, 2)
        (row, col) response cells from the centre of (H, W) ``size`` maps; None for none."""
        rows = np.flatnonzero(use)
        if len(rows) == 0:
            return None
        centres = feature_centres(torch.from_numpy(disp[rows]).float().to(device), size[0])
        return (torch.from_numpy(rows).to(device),
                gaussian_labels(centres, torch.from_numpy(sigma[rows]).to(device), *size))

    def window(self, h: int, w: int) -> torch.Tensor:
        if self._window is None or self._window.shape != (h, w):
            self._window = hann2d(h, w, self.features.device)
        return self._window

    def layers(self, crops: torch.Tensor) -> list[torch.Tensor]:
        """The search features of ``crops`` (first) and, with ``online_shallow``, the shallow
        layer's."""
        if self.cfg.online_shallow:
            return self.features.search_layers(crops)
        return [self.features.search(crops)]

    def first_samples(self, img: FrameCrops, center: np.ndarray, size: np.ndarray,
                      z_sz: np.ndarray) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor,
                                                 torch.Tensor]:
        """The first frame's augmented samples of n new targets (centres, sizes (n, 2) frame px,
        exemplar sides z_sz (n,)): their feature ``layers`` (each (k*n, C_l, H, W),
        augmentation-major: rows j*n..(j+1)*n-1 are augmentation j), the normalised features
        (k*n, C, H, W), the projections (n, C, d) and the labels (k*n, H, W)."""
        cfg, n, k = self.cfg, len(center), len(AUGMENTATIONS)
        x_sz = z_sz * cfg.instance_size / cfg.exemplar_size                           # (n,)
        zoom = cfg.instance_size / x_sz
        shifts = np.array([a[:2] for a in AUGMENTATIONS], dtype=np.float64)           # crop px
        # a crop whose centre moves by -d shows the target at +d crop px from its centre
        centres = (center[:, None, :] - shifts[None] / zoom[:, None, None]).reshape(-1, 2)
        crops = img(centres, np.repeat(x_sz, k), cfg.instance_size).reshape(
            n, k, 3, cfg.instance_size, cfg.instance_size)
        batch = torch.cat([augment(crops[:, j], *AUGMENTATIONS[j][2:]) for j in range(k)])  # (k*n)
        layers = self.layers(batch)                                         # (k*n, C, H, W)
        feat = normalised(layers)
        h, w = feat.shape[-2:]
        proj = principal_axes(feat[:n], min(cfg.online_channels, feat.shape[1]))      # (n, C, d)
        disp = torch.from_numpy(shifts[:, ::-1].copy()).float().to(feat.device) / cfg.total_stride
        flip = torch.tensor([a[5] for a in AUGMENTATIONS], device=feat.device)
        disp[:, 1] = torch.where(flip, -disp[:, 1], disp[:, 1])              # (k, 2) row, col
        sigma = torch.from_numpy(label_sigma(size, zoom, cfg.total_stride, cfg.online_sigma))
        labels = gaussian_labels(feature_centres(disp.repeat_interleave(n, 0), h),
                                 sigma.repeat(k).to(feat.device), h, w)
        return layers, feat, proj, labels

    def gain(self, z_feat: torch.Tensor, search: torch.Tensor, own: torch.Tensor
             ) -> torch.Tensor:
        """(n,) gains that scale the filters' responses ``own`` (n, R, R) on the first frame's
        crops to the siamese response's range there (its peak over its median: the filter's
        own peak there is well below the label's 1), from the exemplar features ``z_feat`` and
        the crops' search features ``search`` (n, C, H, W)."""
        siam = self.features.model.response(z_feat, search)[:, 0]                    # (n, R, R)
        return _spread(siam) / _spread(own).clamp_min(1e-12)

    def start(self, img: FrameCrops, center: np.ndarray, size: np.ndarray, z_sz: np.ndarray,
              z_feat: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ``Targets.cf_*`` fields of n new targets (centres, sizes (n, 2) frame px,
        exemplar sides z_sz (n,), exemplar features (n, C, h, w)), learned from augmented
        search crops of the first frame ``img``: projections (n, C, d), regression terms r
        (n, F, d) and S (n, F, d, d), filters (n, F, d), and the (n,) gains (on the device)."""
        cfg, n, k = self.cfg, len(center), len(AUGMENTATIONS)
        layers, feat, proj, labels = self.first_samples(img, center, size, z_sz)
        h, w = feat.shape[-2:]
        x = spectra(feat, proj.repeat(k, 1, 1), self.window(h, w))                # (k*n, F, d)
        rhs, stats = sample_terms(x, labels)
        rhs = rhs.view(k, n, *rhs.shape[1:]).mean(dim=0)
        stats = stats.view(k, n, *stats.shape[1:]).mean(dim=0)
        filt = solve(stats, rhs, torch.zeros_like(rhs), cfg.online_reg, 2 * proj.shape[-1])
        own = to_response_grid(filter_response(filt, x[:n], (h, w)), cfg.response_size)
        return {"cf_proj": proj, "cf_rhs": rhs, "cf_stats": stats, "cf_filter": filt,
                "cf_gain": self.gain(z_feat, layers[0][:n], own)}

    def respond(self, targets: Targets, layers: list[torch.Tensor], response_size: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N*S, R, R) gained responses of the targets' filters on their search feature
        ``layers`` (each (N*S, C_l, H, W); S consecutive crops per target), and the samples
        (``samples``: here spectra (N*S, F, d)) for ``learn``."""
        t = targets
        n = len(t)
        s = len(layers[0]) // n
        size = tuple(layers[0].shape[-2:])
        x = self.samples(normalised(layers), t.cf_proj.repeat_interleave(s, 0), size)
        r = self.maps(t.cf_filter, x.view(n, s, *x.shape[1:]), size)             # (n, s, H, W)
        gain = t.cf_gain.repeat_interleave(s)[:, None, None]
        return to_response_grid(r.flatten(0, 1), response_size) * gain, x

    def samples(self, feat: torch.Tensor, proj: torch.Tensor, size: tuple[int, int]
                ) -> torch.Tensor:
        """What the filters read of (B, C, H, W) features with projections (B, C, d): the
        projected, windowed maps' spectra (B, F, d)."""
        return spectra(feat, proj, self.window(*size))

    def maps(self, filters: torch.Tensor, x: torch.Tensor, size: tuple[int, int]
             ) -> torch.Tensor:
        """(n, s, H, W) responses of each target's filter (n, ...) on its s samples ``x``
        (n, s, ...): broadcast rather than repeated."""
        return filter_response(filters[:, None], x, size)

    def learn(self, targets: Targets, use: np.ndarray, x: torch.Tensor, disp: np.ndarray,
              sigma: np.ndarray, size: tuple[int, int]) -> None:
        """Add a sample of weight ``online_lr`` to the regression of the targets ``use`` (N,)
        bool and refine their filters: the chosen crops' spectra ``x`` (N, F, d), the targets
        displaced ``disp`` (N, 2) (row, col) response cells from the crop's centre, labels
        ``sigma`` (N,) cells wide, on (H, W) ``size`` feature maps."""
        picked = self.labelled(use, disp, sigma, size, x.device)
        if picked is None:
            return
        (idx, labels), t, cfg = picked, targets, self.cfg
        rows = None if len(idx) == len(t) else idx      # None: all learn, no row copies
        rhs, stats = sample_terms(x[idx], labels)
        rhs = blend_rows(t.cf_rhs, rows, rhs, cfg.online_lr)
        stats = blend_rows(t.cf_stats, rows, stats, cfg.online_lr)
        if self.due():
            t.cf_filter[idx] = solve(stats, rhs, t.cf_filter[idx], cfg.online_reg,
                                     cfg.online_steps)
