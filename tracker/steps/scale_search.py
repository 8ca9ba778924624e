"""SiamFC's tracking step: search crops at S scales, the best scale's windowed peak moves the target.

For all N targets and S scales at once (Bertinetto et al. 2016, section 2.4):
  1. cut S search crops of side s_x * scale around each target's last centre, resize to 255;
  2. one backbone pass over the N*S crops, cross-correlate with each target's exemplar
     features (computed once at init) -> N*S response maps of 17x17;
  3. upsample x16 (bicubic), penalise the non-central scales, pick the best scale;
  4. normalise the chosen map, blend with a cosine window, take the peak;
  5. move the centre by the peak's displacement (response px -> crop px -> frame px);
  6. damp the size update with the scale learning rate and clamp it.
With ``scale_estimate="filter"`` there is one search crop per target (S = 1) and the size
change comes from DSST's scale filter at the new centre instead (``scale_filter.py``).
With ``distractors`` the target is placed on the response with its look-alikes subtracted
(``distractors.py``); its cues (the score) stay those of the plain response. With the online
model (``online.py``) its response is added to the siamese one, for placing and for the cues;
with several targets, each other target's place is pushed down (``exclusion.py``).
"""
from __future__ import annotations

import numpy as np
import torch

from ..config import TrackerConfig
from ..confidence import windows
from ..crops import FrameCrops
from ..diagnostics.profiling import StageTimer
from ..geometry import scale_factors
from ..targets import Targets
from .distractors import placed_response, secondary_peaks
from .exclusion import keep_apart
from .features import Features
from .online import OnlineModel, label_sigma
from .outcome import StepOutcome
from .regression import IDENTITY_CALIBRATION
from .response import ResponsePeak
from .scale_filter import ScaleFilter, to_gray
from .scoring import raw_cues


class ScaleSearch:
    """The step of weights with the cross-correlation head (``head="xcorr"``)."""

    def __init__(self, cfg: TrackerConfig, features: Features, peak: ResponsePeak,
                 timer: StageTimer, online: OnlineModel | None = None) -> None:
        self.cfg, self.features, self.peak, self.timer = cfg, features, peak, timer
        self.online = online
        self.scale_filter = (ScaleFilter(cfg.scale_filter_step, cfg.scale_filter_lr)
                             if cfg.scale_estimate == "filter" else None)
        self.scales = scale_factors(cfg.search_crops, cfg.scale_step)                # (S,)
        penalty = np.full(cfg.search_crops, cfg.scale_penalty)
        penalty[cfg.search_crops // 2] = 1.0
        self._penalty = torch.tensor(penalty, dtype=torch.float32, device=features.device)

    def start(self, img: FrameCrops, center: np.ndarray, size: np.ndarray, z_sz: np.ndarray,
              z_feat: torch.Tensor) -> dict[str, object]:
        """New targets' state: the identity size calibration (nothing is regressed) and, with
        the scale filter, its first filters."""
        state: dict[str, object] = {"box_cal": np.tile(IDENTITY_CALIBRATION, (len(center), 1))}
        if self.scale_filter is not None:
            state.update(zip(("sf_shape", "sf_num", "sf_den"),
                             self.scale_filter.start(to_gray(img.frame), center, size)))
        return state

    def __call__(self, img: FrameCrops, targets: Targets, hw: tuple[int, int]) -> StepOutcome:
        """Steps 1-6 for every target on the frame ``img`` of (H, W) ``hw``."""
        cfg, t, timer = self.cfg, targets, self.timer
        n, s = len(t), cfg.search_crops
        z_feat = t.z_feat
        # 1. search crops of side s_x * scale for every target and scale, one batched call
        with timer.stage("crop"):
            x_sz = t.z_sz * cfg.instance_size / cfg.exemplar_size                    # (n,)
            sizes = (x_sz[:, None] * self.scales[None, :]).reshape(-1)                   # (n*S,)
            centers = np.repeat(t.center, s, axis=0)                                  # (n*S, 2)
            x = img(centers, sizes, cfg.instance_size)

        # 2. features and cross-correlation with each target's exemplar
        with timer.stage("backbone"):
            layers = (self.online.layers(x) if self.online is not None
                      else [self.features.search(x)])
            feat = layers[0]
        with timer.stage("xcorr"):
            head = self.features.model.head
            resp = head(z_feat, feat)                                                    # (n*S,1,17,17)
            placed = (placed_response(head, t, z_feat, feat, resp, cfg.distractor_weight)
                      if cfg.distractors else resp)
        spec = None
        if self.online is not None:      # the online model's response on the same grid
            with timer.stage("online"):
                learned, spec = self.online.respond(t, layers, cfg.response_size)
                learned = cfg.online_weight * learned[:, None]
                # the cues read it too (one sum when nothing else was subtracted to place)
                same = placed is resp
                resp = resp + learned
                placed = resp if same else placed + learned
        # the other targets' places are no candidates (exclusion.py); the cues read that too
        placed, resp = keep_apart([placed, resp], t, sizes.reshape(n, s), cfg)

        with timer.stage("upsample_peak"):
            # 3. upsample, penalise scale changes, pick the best scale per target
            up = self.peak.upsample(placed[:, 0]).view(n, s, -1)                          # (n,S,M)
            peaks = up.amax(dim=2)                                                        # (n, S)
            best = torch.argmax(peaks * self._penalty[None], dim=1)                       # (n,)
            rows_n = torch.arange(n, device=up.device)
            chosen = up[rows_n, best]                                                     # (n, M)
            score = torch.sigmoid(peaks.gather(1, best[:, None])[:, 0])
            # cues of the chosen scale's raw map
            raw = resp.view(n, s, cfg.response_size, cfg.response_size)[rows_n, best]
            chosen_feat = feat.view(n, s, *feat.shape[1:])[rows_n, best]
            cues, radius = raw_cues(raw, z_feat, chosen_feat, t.size, cfg.instance_size / x_sz,
                                    cfg.total_stride)                                     # (n, 5)
            found = None
            if cfg.distractors:
                rows, cols, logits = secondary_peaks(raw, radius, cfg.distractor_gap,
                                                     cfg.distractors_per_frame)
                found = (windows(chosen_feat, rows, cols, *z_feat.shape[2:]), logits)

            # 4. normalise, blend with the cosine window, find the peak
            loc = self.peak.windowed_peak(chosen)

            # only the final numbers come back to the host, in one transfer (float64 holds
            # the integer indices exactly)
            back = torch.cat([torch.stack([loc.double(), best.double(), score.double()]),
                              cues.double().t()]).cpu().numpy()
            loc_np, best_np = back[0].astype(np.int64), back[1].astype(np.int64)

        with timer.stage("bookkeeping"):
            row, col = np.divmod(loc_np, cfg.upscaled_size)
            # 5. displacement: response px -> crop px -> frame px
            centre = (cfg.upscaled_size - 1) / 2
            scale = self.scales[best_np]                                                  # (n,)
            disp = np.stack([col - centre, row - centre], axis=1) * cfg.total_stride / cfg.response_up
            disp = disp * (x_sz * scale / cfg.instance_size)[:, None]
            new_center = t.center + disp
            new_center[:, 0] = np.clip(new_center[:, 0], 0, hw[1] - 1)
            new_center[:, 1] = np.clip(new_center[:, 1], 0, hw[0] - 1)

            # 6. damped size update, clamped to [min_scale, max_scale] x initial size
            damped = (1 - cfg.scale_lr) + cfg.scale_lr * scale                            # (n,)
            lo, hi = cfg.min_scale * t.base_size, cfg.max_scale * t.base_size
            new_size = np.clip(t.size * damped[:, None], lo, hi)
        if self.scale_filter is not None:        # or the scale filter's (DSST's, undamped)
            with timer.stage("scale"):
                new_size = self.scale_filter.track(to_gray(img.frame), t, new_center, lo, hi)
        with timer.stage("bookkeeping"):
            change = np.sqrt(new_size.prod(axis=1) / t.size.prod(axis=1))            # (n,)
            z_sz = t.z_sz * change
            sample = None
            if spec is not None:         # the chosen crops, the target where it was found
                zoom = cfg.instance_size / (x_sz * scale)
                sample = (spec.view(n, s, *spec.shape[1:])[rows_n, best],
                          np.stack([row - centre, col - centre], axis=1) / cfg.response_up,
                          label_sigma(new_size, zoom, cfg.total_stride, cfg.online_sigma),
                          tuple(feat.shape[-2:]))
        if self.scale_filter is not None:        # the size change, not the crop's scale
            scale = change
        return StepOutcome(new_center, new_size, z_sz, back[2], scale, back[3:].T, found, sample)
