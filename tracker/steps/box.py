"""The box heads' tracking step: one search crop per target, the box regressed at the best cell.

Weights with SiamFC++'s box head (``head="box"``) or SiamFC's response with SiamFC++'s box
branch beside it (``head="xcorr-box"``) track from one search crop per target at its current
size; the pure functions of the step (decoding, change penalty, best cell, damping, the
first-frame size calibration) are in ``regression.py``.
"""
from __future__ import annotations

import numpy as np
import torch

from ..config import TrackerConfig
from ..crops import FrameCrops
from ..diagnostics.profiling import StageTimer
from ..geometry import context_size, hann_window
from ..model.heads import BoxOutput
from ..targets import Targets
from .exclusion import keep_apart
from .features import Features
from .online import OnlineModel, label_sigma
from .outcome import StepOutcome
from .regression import (IDENTITY_CALIBRATION, best_cells, calibrated_sizes, calibration_warps,
                         cell_positions, change_penalty, damped_size, decode_boxes,
                         fit_calibration, gain_calibration, nearest_cells, pooled_sizes,
                         size_gain)
from .response import ResponsePeak
from .scoring import raw_cues


class BoxStep:
    """The step of weights with a box head."""

    def __init__(self, cfg: TrackerConfig, features: Features, peak: ResponsePeak,
                 timer: StageTimer, online: OnlineModel | None = None) -> None:
        self.cfg, self.features, self.peak, self.timer = cfg, features, peak, timer
        self.online = online
        device = features.device
        hann = hann_window(cfg.response_size)         # the 17x17 window, peak 1
        self._window = torch.tensor(hann / hann.max(), dtype=torch.float32, device=device)
        self._cells = cell_positions(cfg.response_size, cfg.total_stride,
                                     cfg.instance_size).to(device)       # crop px of the cells
        self.calibrated = cfg.box_gain or cfg.box_calibration

    def predict(self, img: FrameCrops, center: np.ndarray, size: np.ndarray, x_sz: np.ndarray,
                z_feat: torch.Tensor, cal: np.ndarray | None,
                targets: Targets | None = None) -> tuple:
        """The box head on one search crop per target (centres (n, 2), search sides x_sz (n,),
        frame px), its boxes scored, penalised against ``size`` (n, 2) and windowed (SiamFC++),
        or placed at the upsampled response's peak (``box_peak="response"``). Returns (head
        output, search features, crop px per frame px (n,), size in crop px (n, 2), chosen flat
        cell (n,), its box (n, 4) crop px with w, h read through the lines ``cal`` (n, 4) when
        given, its rate, and with the online model (``targets`` given) the crops' spectra)."""
        cfg, timer, device = self.cfg, self.timer, self.features.device
        with timer.stage("crop"):
            x = img(center, x_sz, cfg.instance_size)
        online = self.online if targets is not None else None
        with timer.stage("backbone"):
            layers = online.layers(x) if online is not None else [self.features.search(x)]
            feat = layers[0]
        with timer.stage("xcorr"):
            out: BoxOutput = self.features.model.head(z_feat, feat)       # (n, 1|1|4, 17, 17)
        spec = None
        if online is not None:           # the online model's response on the same grid
            with timer.stage("online"):
                learned, spec = online.respond(targets, layers, out.cls.shape[-1])
                out = BoxOutput(out.cls + cfg.online_weight * learned[:, None], out.quality,
                                out.ltrb)
        if targets is not None:          # the other targets' places are no candidates
            (kept,) = keep_apart([out.cls], targets, x_sz[:, None], cfg)
            out = BoxOutput(kept, out.quality, out.ltrb)
        cls = out.cls[:, 0]
        with timer.stage("upsample_peak"):
            to_crop = torch.from_numpy(cfg.instance_size / x_sz).float().to(device)    # (n,)
            crop_size = torch.from_numpy(size).float().to(device) * to_crop[:, None]
            rows_n = torch.arange(len(center), device=device)
            score = torch.sigmoid(cls) * torch.sigmoid(out.quality[:, 0])             # (n, R, R)
            if cfg.box_peak == "response":        # only the cells around the peak are decoded
                peak = self.peak(cls)                                                 # (n, 2)
                best = nearest_cells(peak[:, 1], peak[:, 0], cfg.response_up, cfg.response_size)
                centre = (cfg.instance_size - 1) / 2 + (
                    peak.float() - (cfg.upscaled_size - 1) / 2) * cfg.total_stride / cfg.response_up
                boxes = torch.cat([centre, pooled_sizes(out.ltrb, score, best, cfg.box_cells)],
                                  dim=1)[:, :, None, None]                            # (n,4,1,1)
            else:
                boxes = decode_boxes(out.ltrb, self._cells)                           # (n,4,R,R)
            if cal is not None:
                boxes[:, 2:] = calibrated_sizes(boxes[:, 2:],
                                                torch.from_numpy(cal).float().to(device))
            penalty = change_penalty(boxes, crop_size, cfg.penalty_k)       # (n, R, R) | (n, 1, 1)
            if cfg.box_peak == "response":
                picked, penalty = boxes[:, :, 0, 0], penalty[:, 0, 0]
            else:
                best = best_cells(score, penalty, self._window, cfg.box_window_influence)
                picked = boxes.flatten(2)[rows_n, :, best]                            # (n, 4)
                penalty = penalty.flatten(1)[rows_n, best]
            rate = cfg.box_lr * penalty * score.flatten(1)[rows_n, best]
        return out, feat, to_crop, crop_size, best, picked, rate, spec

    def __call__(self, img: FrameCrops, targets: Targets, hw: tuple[int, int]) -> StepOutcome:
        """Every target on the frame ``img`` of (H, W) ``hw``: one search crop each at its
        current size, the best cell's box after the change penalty and the window (the scale is
        the change of the box's side)."""
        cfg, t = self.cfg, targets
        z_feat = t.z_feat
        x_sz = t.z_sz * cfg.instance_size / cfg.exemplar_size                          # (n,)
        out, feat, to_crop, crop_size, best, picked, rate, spec = self.predict(
            img, t.center, t.size, x_sz, z_feat, t.box_cal if self.calibrated else None, t)
        with self.timer.stage("upsample_peak"):
            new_size = damped_size(crop_size, picked[:, 2:], rate) / to_crop[:, None]  # frame px
            raw = out.cls[:, 0]
            cues, _ = raw_cues(raw, z_feat, feat, t.size, cfg.instance_size / x_sz,
                               cfg.total_stride)                                       # (n, 5)
            peak = torch.sigmoid(raw.flatten(1).amax(dim=1))
            back = torch.cat([((picked[:, :2] - (cfg.instance_size - 1) / 2) / to_crop[:, None]).t(),
                              new_size.t(), peak[None], cues.t()]).double().cpu().numpy()
        with self.timer.stage("bookkeeping"):
            new_center = t.center + back[0:2].T
            new_center[:, 0] = np.clip(new_center[:, 0], 0, hw[1] - 1)
            new_center[:, 1] = np.clip(new_center[:, 1], 0, hw[0] - 1)
            sized = np.clip(back[2:4].T, cfg.min_scale * t.base_size, cfg.max_scale * t.base_size)
            z_sz = context_size(sized[:, 0], sized[:, 1], cfg.context)
            scale = np.sqrt(sized.prod(axis=1) / t.size.prod(axis=1))
            sample = None
            if spec is not None:         # the crop, the target where it was found (cells)
                disp = back[1::-1].T * (cfg.instance_size / x_sz)[:, None] / cfg.total_stride
                sample = (spec, disp, label_sigma(sized, cfg.instance_size / x_sz,
                                                  cfg.total_stride, cfg.online_sigma),
                          tuple(feat.shape[-2:]))
        return StepOutcome(new_center, sized, z_sz, back[4], scale, back[5:].T, sample=sample)

    def start(self, img: FrameCrops, center: np.ndarray, size: np.ndarray, z_sz: np.ndarray,
              z_feat: torch.Tensor) -> dict[str, np.ndarray]:
        """New targets' state: ``box_cal``, their ``calibrate``d lines."""
        return {"box_cal": self.calibrate(img, center, size, z_sz, z_feat)}

    def calibrate(self, img: FrameCrops, center: np.ndarray, size: np.ndarray, z_sz: np.ndarray,
                  z_feat: torch.Tensor) -> np.ndarray:
        """(n, 4) per-target lines through which the regressed w, h are read (see
        ``regression.py``), from the first frame, where the box is known: ``box_gain`` (the
        known box over the head's for it, a factor per side; it replaces the calibration) or
        ``box_calibration`` (lines fitted on the target warped to 3 scales x 3 stretches); the
        identity when both are off."""
        cfg, n = self.cfg, len(center)
        if not self.calibrated:
            return np.tile(IDENTITY_CALIBRATION, (n, 1))
        x_sz = z_sz * cfg.instance_size / cfg.exemplar_size
        if cfg.box_gain:
            _, _, _, crop_size, _, picked, _, _ = self.predict(img, center, size, x_sz, z_feat, None)
            self.timer.discard()        # init's search crop is not part of the next update
            return gain_calibration(size_gain(crop_size, picked[:, 2:]).double().cpu().numpy())
        warps = calibration_warps()                                                     # (K, 2)
        k = len(warps)
        sides = (x_sz[:, None, None] * warps[None]).reshape(-1, 2)            # (n*K, 2) frame px
        x = img(np.repeat(center, k, axis=0), sides, cfg.instance_size)
        out = self.features.model.head(z_feat, self.features.search(x))
        middle = (cfg.response_size // 2) * (cfg.response_size + 1)     # the crop's centre cell
        score = torch.sigmoid(out.cls[:, 0]) * torch.sigmoid(out.quality[:, 0])
        predicted = pooled_sizes(out.ltrb, score, torch.full((len(out.ltrb),), middle,
                                                             device=self.features.device),
                                 cfg.box_cells if cfg.box_peak == "response" else 1)  # (n*K, 2)
        true = np.repeat(size, k, axis=0) * cfg.instance_size / sides           # crop px
        return fit_calibration(true.reshape(n, k, 2),
                               predicted.double().cpu().numpy().reshape(n, k, 2))
