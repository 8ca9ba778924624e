"""The SiamFC tracking loop (Bertinetto et al. 2016, section 2.4), for one or many targets.

Per frame, for all N targets and S scales at once:
  1. cut S search crops of side s_x * scale around each target's last centre, resize to 255;
  2. one backbone pass over the N*S crops, cross-correlate with each target's exemplar
     features (computed once at init) -> N*S response maps of 17x17;
  3. upsample x16 (bicubic), penalise the non-central scales, pick the best scale;
  4. normalise the chosen map, blend with a cosine window, take the peak;
  5. move the centre by the peak's displacement (response px -> crop px -> frame px);
  6. damp the size update with the scale learning rate and clamp it.
Beyond the paper: the score is not the raw peak but a confidence from cues of the response
(``confidence.py``: the peak against the target's own first peaks, the cosine similarity of the
matched features, ...) through the weights' fitted ``ScoreModel``; each target carries a lost
state: a score below ``lost_threshold`` for ``lost_frames`` frames flags it lost, the next one
above clears it; with ``redetect`` a lost target also runs one wide search crop per frame (a
tour from its last confident position, see ``redetect.py``) and moves to its peak when that
scores at least ``recover_threshold`` and better than the normal step; with ``distractors``
look-alikes seen beside the target are subtracted from its response (``distractors.py``).
Weights with a box head (SiamFC++'s, ``head="box"``, or SiamFC's response with SiamFC++'s box
branch, ``head="xcorr-box"``) replace steps 1-6 by one search crop per target and the box
regressed at the best cell (``regression.py``).
Boxes are 0-based (x, y, w, h) float pixels; frames BGR uint8 (H, W, 3).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .confidence import (CUES, RAW_PEAK, ScoreModel, cosine_at_peak, neighbourhood_radius,
                         response_cues, windows)
from .config import TrackerConfig
from .crops import FrameCrops
from .distractors import push, secondary_peaks, template
from .diagnostics.profiling import StageTimer
from .frames import as_bgr
from .geometry import (context_size, cxcywh_to_ltwh, hann_window, ltwh_to_cxcywh, scale_factors,
                       validate_box)
from .model.fusion import fold_batchnorm
from .model.graphs import GraphedBackbone
from .model.network import SiamNet
from .model.quantize import Int8Backbone, split_calibration
from .model.runtime import check_precision, pick_precision, resolve_device, resolve_dtype
from .model.weights import DEFAULT_BACKBONE, default_weights_path, load_network, load_score_model
from .redetect import peak_to_frame, search_centres
from .regression import (IDENTITY_CALIBRATION, best_cells, calibrated_sizes, calibration_warps,
                         cell_positions, change_penalty, damped_size, decode_boxes,
                         fit_calibration, gain_calibration, nearest_cells,
                         pooled_sizes, size_gain)
from .staging import FrameUploader
from .targets import Targets


@dataclass(frozen=True)
class TrackResult:
    """One target's state after a frame.

    box: 0-based (x, y, w, h) float pixels; score: confidence in [0, 1] that the box holds
    the target, from the tracker's ``ScoreModel`` over the response cues (see
    ``confidence.py``; without a fitted model, the sigmoid of the peak); scale: the chosen
    scale factor (with the box head: the change of the box's geometric-mean side);
    target_id: the id given at ``init``/``add``; lost: the score has stayed below the
    config's ``lost_threshold`` for ``lost_frames`` frames (and not come back above it
    since); peak: the sigmoid of the peak response logit (the paper's score);
    cues: the response cues by name (``confidence.CUES``), None on the first frame.
    """

    box: tuple[float, float, float, float]
    score: float
    scale: float
    target_id: int = 0
    lost: bool = False
    peak: float = 1.0
    cues: dict[str, float] | None = None


def bicubic_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) matrix A with A @ R @ A.T equal to ``F.interpolate(R, (n_out, n_out),
    mode="bicubic", align_corners=False)`` for an (n_in, n_in) map R: bicubic upsampling is
    separable and linear, so two small matrix products replace it (step 3)."""
    eye = torch.eye(n_in, dtype=torch.float64).view(n_in, 1, 1, n_in)
    rows = F.interpolate(eye, size=(1, n_out), mode="bicubic", align_corners=False)
    return rows.view(n_in, n_out).t().float().contiguous()


def _as_config(config: TrackerConfig | str | None) -> TrackerConfig | None:
    return TrackerConfig.preset(config) if isinstance(config, str) else config


class SiamFCMultiTracker:
    """Tracks N targets with one batched backbone pass per frame."""

    def __init__(self, model: SiamNet, config: TrackerConfig | None = None,
                 device: str | torch.device = "auto", dtype: str = "auto",
                 calibration: dict[str, torch.Tensor] | None = None,
                 cuda_graphs: bool = False, score_model: ScoreModel | None = None) -> None:
        self.cfg = config if config is not None else TrackerConfig()
        self.score_model = score_model if score_model is not None else RAW_PEAK
        self.device = resolve_device(device)
        check_precision(dtype)
        # inference only: BatchNorm folded into the convolutions, NHWC memory layout
        self.model = fold_batchnorm(model).to(self.device).to(memory_format=torch.channels_last)
        # backbone precision: fp32, bf16 / fp16 weights and crops, or int8 (needs the
        # activation ranges in ``calibration``); the cross-correlation and everything after
        # it stay fp32 (a bf16 response map cannot place the peak)
        exemplar_cal, search_cal = split_calibration(calibration)
        self.precision = pick_precision(dtype, self.device, self.model.backbone, exemplar_cal)
        self.dtype = resolve_dtype(self.precision, self.device)
        for branch in self.model.backbones():
            branch.to(self.dtype)
        if self.precision == "int8":
            if calibration is None:
                raise ValueError("int8 needs a calibration: use from_pretrained (it reads "
                                 "<weights>.int8.pth) or pass calibration=")
            cfg = self.cfg
            separate = self.model.search_backbone is not None
            self.model.backbone = Int8Backbone(
                self.model.backbone, exemplar_cal,
                sizes=[(cfg.exemplar_size,) * 2] + ([] if separate else [(cfg.instance_size,) * 2]))
            if separate:
                if search_cal is None:
                    raise ValueError("this calibration has no search branch; run `siamfc "
                                     "quantize` for these (separate-branch) weights")
                self.model.search_backbone = Int8Backbone(self.model.search_backbone, search_cal,
                                                          sizes=[(cfg.instance_size,) * 2])
        for p in self.model.parameters():
            p.requires_grad_(False)
        if cuda_graphs:       # the backbones replayed from one CUDA graph per input shape
            self.model.backbone = GraphedBackbone(self.model.backbone)
            if self.model.search_backbone is not None:
                self.model.search_backbone = GraphedBackbone(self.model.search_backbone)
        cfg = self.cfg
        self.box_head = self.model.regresses_box
        if self.box_head and cfg.distractors:
            raise ValueError("distractor-aware matching (distractors=true) needs weights with "
                             "the xcorr head; these have the box head")
        # the box head's 17x17 Hann window (peak 1) and the crop px of its cells
        hann = hann_window(cfg.response_size)
        self._box_window = torch.tensor(hann / hann.max(), dtype=torch.float32, device=self.device)
        self._cells = cell_positions(cfg.response_size, cfg.total_stride,
                                     cfg.instance_size).to(self.device)
        self.scales = scale_factors(cfg.num_scales, cfg.scale_step)                  # (S,)
        penalty = np.full(cfg.num_scales, cfg.scale_penalty)
        penalty[cfg.num_scales // 2] = 1.0
        self._penalty = torch.tensor(penalty, dtype=torch.float32, device=self.device)
        self._window = torch.tensor(hann_window(cfg.upscaled_size), dtype=torch.float32,
                                    device=self.device)
        self._upsample = bicubic_matrix(cfg.response_size, cfg.upscaled_size).to(self.device)
        self.timer = StageTimer(self.device, enabled=False)   # siamfc bench turns it on
        # accelerators: frames go up through pinned buffers, asynchronously
        self._uploader = FrameUploader(self.device) if self.device.type != "cpu" else None
        self._clear()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: str = "auto",
                        config: TrackerConfig | str | None = None, backbone: str | None = None,
                        pretrained: bool = True, dtype: str = "auto",
                        cuda_graphs: bool = False, head: str = "xcorr") -> "SiamFCMultiTracker":
        """Load weights (default: ``weights/siamfc_mobilenetv2.pth``) into a tracker.

        ``backbone``: a registered name whose default file is used when ``path`` is None
        (``mobilenetv2``; ``alexnet``, the paper's network, ``weights/siamfc_alexnet.pth``;
        ``alexnet_slim``, ``weights/siamfc_lite.pth``; ``mobilenetv2_64``, the lighter cut,
        ``weights/siamfc_mobilenetv2_64.pth``); None reads it from the weights file. ``config`` is a
        ``TrackerConfig`` or a preset name;
        ``dtype`` the backbone precision: ``fp32``, ``bf16``, ``fp16`` on CUDA, ``int8`` on
        the CPU (with the calibration file ``<weights>.int8.pth``, see ``siamfc quantize``), or
        ``auto`` (default): ``int8`` on a CPU when the weights have a calibration made for them
        and torch has the x86 int8 engine, else ``fp32``; ``precision`` says which was chosen.
        ``pretrained=False`` gives random weights: for tests only, never a silent fallback.
        ``cuda_graphs=True`` (CUDA only) replays the backbone from CUDA graphs.
        ``head`` picks the shipped file of another head when ``path`` is None: ``"xcorr-box"``
        (``weights/siamfc_mobilenetv2_box.pth``: one search crop per frame, the box regressed);
        with a ``path`` the head is read from the file.
        The score model is ``<weights>.score.json`` when there is one (see ``siamfc
        fit-score``), else the raw peak.
        """
        if path is None and head != "xcorr" and pretrained:
            path = default_weights_path(backbone or DEFAULT_BACKBONE, head)
        model, calibration = load_network(path, backbone, pretrained, dtype, device)
        return cls(model, _as_config(config), device, dtype, calibration, cuda_graphs,
                   load_score_model(path, backbone, pretrained))

    def _clear(self) -> None:
        self.targets = Targets()      # per-target state, one row per target (see targets.py)
        self._next_id = 0

    @property
    def ids(self) -> list[int]:
        """The tracked target ids, in order."""
        return self.targets.ids

    @property
    def num_targets(self) -> int:
        return len(self.ids)

    # -- init ---------------------------------------------------------------------------------
    def init(self, frame: np.ndarray, boxes: Sequence[Sequence[float]] | np.ndarray) -> list[int]:
        """Start tracking ``boxes`` ((N, 4) 0-based x, y, w, h) in ``frame``; replaces any
        previous targets. Returns the target ids (0 .. N-1)."""
        frame = as_bgr(frame)
        arr = np.asarray(boxes, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] != 4 or arr.shape[0] == 0:
            raise ValueError(f"boxes must be (N, 4) x, y, w, h with N >= 1, got shape {np.shape(boxes)}")
        checked = np.stack([validate_box(b, frame.shape[:2]) for b in arr])
        self._clear()
        self._add(frame, checked)
        return list(self.ids)

    def add(self, frame: np.ndarray, box: Sequence[float]) -> int:
        """Add one target (0-based x, y, w, h) on ``frame``; returns its new id."""
        frame = as_bgr(frame)
        self._add(frame, validate_box(box, frame.shape[:2])[None])
        return self.ids[-1]

    def remove(self, target_id: int) -> None:
        """Stop tracking ``target_id`` (``KeyError`` if unknown)."""
        if target_id not in self.ids:
            raise KeyError(f"no target with id {target_id}; tracked ids: {self.ids}")
        self.targets = self.targets.select([i for i, t in enumerate(self.ids) if t != target_id])

    def reposition(self, target_id: int, box: Sequence[float]) -> None:
        """Move target ``target_id`` to the 0-based (x, y, w, h) ``box`` (e.g. a user's
        correction): the next update searches around it at its size. The exemplar and the
        reference peak stay; the lost state is cleared."""
        if target_id not in self.ids:
            raise KeyError(f"no target with id {target_id}; tracked ids: {self.ids}")
        i, t = self.ids.index(target_id), self.targets
        arr = np.asarray(box, dtype=np.float64)
        if arr.shape != (4,) or not np.isfinite(arr).all() or arr[2] <= 0 or arr[3] <= 0:
            raise ValueError(f"box must be 4 finite numbers x, y, w, h with w, h > 0, got {box}")
        cxcywh = ltwh_to_cxcywh(arr[None])[0]
        t.center[i], t.size[i] = cxcywh[:2], cxcywh[2:]
        t.z_sz[i] = context_size(cxcywh[2:3], cxcywh[3:4], self.cfg.context)[0]
        t.lost[i], t.low[i] = False, 0
        t.good[i] = np.concatenate([t.center[i], t.size[i], [t.z_sz[i]]])

    def _backbone_input(self, crops: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) float32 crops in the backbone's precision and channels-last layout."""
        return crops.to(self.dtype).contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def _add(self, frame: np.ndarray, boxes: np.ndarray) -> None:
        cfg = self.cfg
        cxcywh = ltwh_to_cxcywh(boxes)
        center, size = cxcywh[:, :2], cxcywh[:, 2:]
        # exemplar side s_z = sqrt((w + p)(h + p)), p = context * (w + h)
        z_sz = context_size(size[:, 0], size[:, 1], cfg.context)
        z = self._backbone_input(FrameCrops(frame, self.device, self._uploader)(
            center, z_sz, cfg.exemplar_size))
        feat = self.model.features(z).float()
        new_ids = list(range(self._next_id, self._next_id + len(boxes)))
        self._next_id += len(boxes)
        new = Targets.start(new_ids, center, size, z_sz, feat)
        new.box_cal = self._box_calibration(frame, center, size, z_sz, feat)
        self.targets = self.targets.concat(new)

    # -- update -------------------------------------------------------------------------------
    @property
    def lost(self) -> list[bool]:
        """Per target (id order): flagged lost."""
        return [bool(v) for v in self.targets.lost]

    @torch.inference_mode()
    def update(self, frame: np.ndarray) -> list[TrackResult]:
        """Track all targets into ``frame``; one ``TrackResult`` per target, in id order."""
        t = self.targets
        if t.z_feat is None or not self.ids:
            raise RuntimeError("update() called before init(): call init(frame, box) first")
        frame = as_bgr(frame)
        cfg = self.cfg
        n = len(self.ids)
        hw = frame.shape[:2]
        with self.timer.stage("crop"):
            img = FrameCrops(frame, self.device, self._uploader)
        everyone = np.arange(n)
        peaks, scales, cues, found = self._track(img, everyone, hw)
        scores = self.score_model.score(cues)
        if found is not None:           # distractors seen by confidently tracked targets
            self._remember(everyone, scores >= cfg.lost_threshold, *found)
        # lost targets also run one wide-search crop; they move to its peak when it scores
        # at least recover_threshold and more than the normal step
        for i in np.flatnonzero(t.lost & cfg.redetect):
            wide = self._redetect(img, int(i), hw, float(scores[i]))
            if wide is not None:
                scores[i], peaks[i], cues[i] = wide
        with self.timer.stage("bookkeeping"):
            self._update_lost(scores, hw)
            boxes = cxcywh_to_ltwh(np.concatenate([t.center, t.size], axis=1))
            results = [TrackResult(tuple(float(v) for v in boxes[i]), float(scores[i]),
                                   float(scales[i]), self.ids[i], bool(t.lost[i]),
                                   float(peaks[i]), dict(zip(CUES, map(float, cues[i]))))
                       for i in range(n)]
        self.timer.lap()
        return results

    def _track(self, img: FrameCrops, idx: np.ndarray, hw: tuple[int, int]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple | None]:
        """The SiamFC step for targets ``idx`` on the frame ``img``; returns their peak
        scores (sigmoid of the upsampled peak), chosen scales, response cues (n, len(CUES))
        and, with ``distractors``, the (embeddings, logits) of the distractor peaks seen (see
        ``_remember``), and moves their centres and sizes."""
        cfg, t = self.cfg, self.targets
        n, s = len(idx), cfg.num_scales
        z_feat = t.z_feat if n == len(self.ids) else t.z_feat[torch.from_numpy(idx)]
        if self.box_head:
            return self._track_box(img, idx, hw, z_feat)
        timer = self.timer
        # 1. search crops of side s_x * scale for every target and scale, one batched call
        with timer.stage("crop"):
            x_sz = t.z_sz[idx] * cfg.instance_size / cfg.exemplar_size              # (n,)
            sizes = (x_sz[:, None] * self.scales[None, :]).reshape(-1)                   # (n*S,)
            centers = np.repeat(t.center[idx], s, axis=0)                             # (n*S, 2)
            x = self._backbone_input(img(centers, sizes, cfg.instance_size))

        # 2. features and cross-correlation with each target's exemplar
        with timer.stage("backbone"):
            feat = self.model.search_features(x).float()
        with timer.stage("xcorr"):
            resp = self.model.head(z_feat, feat)                                         # (n*S,1,17,17)
            # distractor-aware: place the target on f(z - alpha * D, x) (distractors.py);
            # the cues (the score) stay those of the plain response
            placed = self._distractor_response(idx, z_feat, feat, resp) if cfg.distractors else resp

        with timer.stage("upsample_peak"):
            # 3. upsample, penalise scale changes, pick the best scale per target
            a = self._upsample                                                            # (M', r)
            up = (a @ placed[:, 0] @ a.t()).view(n, s, -1)                                # (n,S,M)
            peaks = up.amax(dim=2)                                                        # (n, S)
            best = torch.argmax(peaks * self._penalty[None], dim=1)                       # (n,)
            rows_n = torch.arange(n, device=up.device)
            chosen = up[rows_n, best]                                                     # (n, M)
            score = torch.sigmoid(peaks.gather(1, best[:, None])[:, 0])
            # cues of the chosen scale's raw map (confidence.py), near-peak radius from the
            # target's size on the response grid
            raw = resp.view(n, s, cfg.response_size, cfg.response_size)[rows_n, best]
            radius = torch.from_numpy(neighbourhood_radius(
                t.size[idx], cfg.instance_size / x_sz, cfg.total_stride, cfg.response_size))
            chosen_feat = feat.view(n, s, *feat.shape[1:])[rows_n, best]
            cues = torch.cat([response_cues(raw, radius),
                              cosine_at_peak(z_feat, chosen_feat, raw)[:, None]], dim=1)  # (n, 5)
            found = None
            if cfg.distractors:
                rows, cols, logits = secondary_peaks(raw, radius, cfg.distractor_gap,
                                                     cfg.distractors_per_frame)
                found = (windows(chosen_feat, rows, cols, *z_feat.shape[2:]), logits)

            # 4. normalise, blend with the cosine window, find the peak
            loc = self._windowed_peak(chosen)

            # only the final numbers come back to the host, in one transfer (float64 holds
            # the integer indices exactly)
            back = torch.cat([torch.stack([loc.double(), best.double(), score.double()]),
                              cues.double().t()]).cpu().numpy()
            loc_np, best_np, score_np = back[0].astype(np.int64), back[1].astype(np.int64), back[2]
            cues_np = self._with_relative(idx, back[3:].T)

        with timer.stage("bookkeeping"):
            row, col = np.divmod(loc_np, cfg.upscaled_size)
            # 5. displacement: response px -> crop px -> frame px
            centre = (cfg.upscaled_size - 1) / 2
            scale = self.scales[best_np]                                                  # (n,)
            disp = np.stack([col - centre, row - centre], axis=1) * cfg.total_stride / cfg.response_up
            disp = disp * (x_sz * scale / cfg.instance_size)[:, None]
            new_center = t.center[idx] + disp
            new_center[:, 0] = np.clip(new_center[:, 0], 0, hw[1] - 1)
            new_center[:, 1] = np.clip(new_center[:, 1], 0, hw[0] - 1)
            t.center[idx] = new_center

            # 6. damped size update, clamped to [min_scale, max_scale] x initial size
            damped = (1 - cfg.scale_lr) + cfg.scale_lr * scale                            # (n,)
            size = t.size[idx]
            new_size = np.clip(size * damped[:, None], cfg.min_scale * t.base_size[idx],
                               cfg.max_scale * t.base_size[idx])
            t.z_sz[idx] = t.z_sz[idx] * np.sqrt(new_size.prod(axis=1) / size.prod(axis=1))
            t.size[idx] = new_size
        return score_np, scale, cues_np, found

    def _box_predict(self, img: FrameCrops, center: np.ndarray, size: np.ndarray,
                     x_sz: np.ndarray, z_feat: torch.Tensor, cal: np.ndarray | None) -> tuple:
        """The box head on one search crop per target (centres (n, 2), search sides x_sz (n,),
        frame px), its boxes scored, penalised against ``size`` (n, 2) and windowed (SiamFC++),
        or placed at the upsampled response's peak (``box_peak="response"``). Returns (head
        output, search features, crop px per frame px (n,), size in crop px (n, 2), chosen flat
        cell (n,), its box (n, 4) crop px with w, h read through the lines ``cal`` (n, 4) when
        given, its rate)."""
        cfg, timer = self.cfg, self.timer
        with timer.stage("crop"):
            x = self._backbone_input(img(center, x_sz, cfg.instance_size))
        with timer.stage("backbone"):
            feat = self.model.search_features(x).float()
        with timer.stage("xcorr"):
            out = self.model.head(z_feat, feat)                       # (n, 1|1|4, 17, 17)
        with timer.stage("upsample_peak"):
            to_crop = torch.from_numpy(cfg.instance_size / x_sz).float().to(self.device)  # (n,)
            crop_size = torch.from_numpy(size).float().to(self.device) * to_crop[:, None]
            rows_n = torch.arange(len(center), device=self.device)
            score = torch.sigmoid(out.cls[:, 0]) * torch.sigmoid(out.quality[:, 0])   # (n, R, R)
            if cfg.box_peak == "response":        # only the cells around the peak are decoded
                peak = self._response_peak(out.cls[:, 0])                             # (n, 2)
                best = nearest_cells(peak[:, 1], peak[:, 0], cfg.response_up, cfg.response_size)
                centre = (cfg.instance_size - 1) / 2 + (
                    peak.float() - (cfg.upscaled_size - 1) / 2) * cfg.total_stride / cfg.response_up
                boxes = torch.cat([centre, pooled_sizes(out.ltrb, score, best, cfg.box_cells)],
                                  dim=1)[:, :, None, None]                            # (n,4,1,1)
            else:
                boxes = decode_boxes(out.ltrb, self._cells)                           # (n,4,R,R)
            if cal is not None:
                boxes[:, 2:] = calibrated_sizes(boxes[:, 2:],
                                                torch.from_numpy(cal).float().to(self.device))
            penalty = change_penalty(boxes, crop_size, cfg.penalty_k)       # (n, R, R) | (n, 1, 1)
            if cfg.box_peak == "response":
                picked, penalty = boxes[:, :, 0, 0], penalty[:, 0, 0]
            else:
                best = best_cells(score, penalty, self._box_window, cfg.box_window_influence)
                picked = boxes.flatten(2)[rows_n, :, best]                            # (n, 4)
                penalty = penalty.flatten(1)[rows_n, best]
            rate = cfg.box_lr * penalty * score.flatten(1)[rows_n, best]
        return out, feat, to_crop, crop_size, best, picked, rate

    def _windowed_peak(self, up: torch.Tensor) -> torch.Tensor:
        """(n,) flat index of the peak of (n, M) upsampled maps, each shifted to a minimum of 0,
        normalised to sum 1 and blended with the Hann window (SiamFC's step 4)."""
        up = up - up.amin(dim=1, keepdim=True)
        up = up / (up.sum(dim=1, keepdim=True) + 1e-16)
        up = (1 - self.cfg.window_influence) * up + self.cfg.window_influence * self._window.view(1, -1)
        return torch.argmax(up, dim=1)

    def _response_peak(self, response: torch.Tensor) -> torch.Tensor:
        """(n, 2) (col, row) px of the peak of (n, R, R) logits upsampled and windowed as the
        SiamFC step does (steps 3-4 of ``_track``)."""
        a, n = self._upsample, len(response)
        loc = self._windowed_peak((a @ response @ a.t()).view(n, -1))
        return torch.stack([loc % self.cfg.upscaled_size, loc // self.cfg.upscaled_size], dim=1)

    def _box_calibration(self, frame: np.ndarray, center: np.ndarray, size: np.ndarray,
                         z_sz: np.ndarray, z_feat: torch.Tensor) -> np.ndarray:
        """(n, 4) per-target lines through which the regressed w, h are read (see
        ``regression.py``), from the first frame, where the box is known: ``box_gain`` (the
        known box over the head's for it, a factor per side; it replaces the calibration) or
        ``box_calibration`` (lines fitted on the target warped to 3 scales x 3 stretches); the
        identity when both are off or for the xcorr head."""
        cfg, n = self.cfg, len(center)
        if not (self.box_head and (cfg.box_gain or cfg.box_calibration)):
            return np.tile(IDENTITY_CALIBRATION, (n, 1))
        x_sz = z_sz * cfg.instance_size / cfg.exemplar_size
        img = FrameCrops(frame, self.device, self._uploader)
        if cfg.box_gain:
            _, _, _, crop_size, _, picked, _ = self._box_predict(img, center, size, x_sz, z_feat, None)
            self.timer.discard()        # init's search crop is not part of the next update
            return gain_calibration(size_gain(crop_size, picked[:, 2:]).double().cpu().numpy())
        warps = calibration_warps()                                                     # (K, 2)
        k = len(warps)
        sides = (x_sz[:, None, None] * warps[None]).reshape(-1, 2)            # (n*K, 2) frame px
        x = self._backbone_input(img(np.repeat(center, k, axis=0), sides, cfg.instance_size))
        out = self.model.head(z_feat, self.model.search_features(x).float())
        middle = (cfg.response_size // 2) * (cfg.response_size + 1)     # the crop's centre cell
        score = torch.sigmoid(out.cls[:, 0]) * torch.sigmoid(out.quality[:, 0])
        predicted = pooled_sizes(out.ltrb, score, torch.full((len(out.ltrb),), middle,
                                                             device=self.device),
                                 cfg.box_cells if cfg.box_peak == "response" else 1)  # (n*K, 2)
        true = np.repeat(size, k, axis=0) * cfg.instance_size / sides           # crop px
        return fit_calibration(true.reshape(n, k, 2),
                               predicted.double().cpu().numpy().reshape(n, k, 2))

    def _track_box(self, img: FrameCrops, idx: np.ndarray, hw: tuple[int, int],
                   z_feat: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray, None]:
        """The box head's step for targets ``idx`` (exemplar features ``z_feat``;
        ``regression.py``): one search crop each at the current size, the best cell's box
        after the change penalty and the window; returns what ``_track`` does (the scale is
        the change of the box's side)."""
        cfg, t = self.cfg, self.targets
        x_sz = t.z_sz[idx] * cfg.instance_size / cfg.exemplar_size                     # (n,)
        out, feat, to_crop, crop_size, best, picked, rate = self._box_predict(
            img, t.center[idx], t.size[idx], x_sz, z_feat,
            t.box_cal[idx] if cfg.box_gain or cfg.box_calibration else None)
        with self.timer.stage("upsample_peak"):
            new_size = damped_size(crop_size, picked[:, 2:], rate) / to_crop[:, None]  # frame px
            raw = out.cls[:, 0]
            radius = torch.from_numpy(neighbourhood_radius(
                t.size[idx], cfg.instance_size / x_sz, cfg.total_stride, cfg.response_size))
            cues = torch.cat([response_cues(raw, radius),
                              cosine_at_peak(z_feat, feat, raw)[:, None]], dim=1)     # (n, 5)
            peak = torch.sigmoid(raw.flatten(1).amax(dim=1))
            back = torch.cat([((picked[:, :2] - (cfg.instance_size - 1) / 2) / to_crop[:, None]).t(),
                              new_size.t(), peak[None], cues.t()]).double().cpu().numpy()
            cues_np = self._with_relative(idx, back[5:].T)
        with self.timer.stage("bookkeeping"):
            new_center = t.center[idx] + back[0:2].T
            new_center[:, 0] = np.clip(new_center[:, 0], 0, hw[1] - 1)
            new_center[:, 1] = np.clip(new_center[:, 1], 0, hw[0] - 1)
            t.center[idx] = new_center
            old = t.size[idx]
            sized = np.clip(back[2:4].T, cfg.min_scale * t.base_size[idx],
                            cfg.max_scale * t.base_size[idx])
            t.size[idx] = sized
            t.z_sz[idx] = context_size(sized[:, 0], sized[:, 1], cfg.context)
            scale = np.sqrt(sized.prod(axis=1) / old.prod(axis=1))
        return back[4], scale, cues_np, None

    def _distractor_response(self, idx: np.ndarray, z_feat: torch.Tensor, feat: torch.Tensor,
                             resp: torch.Tensor) -> torch.Tensor:
        """The response of targets ``idx`` with their distractors' weighted mean template
        subtracted (``resp`` itself when none has a distractor)."""
        t = self.targets
        means = [template(t.d_feat[i], t.d_weight[i]) for i in idx]
        if all(m is None for m in means):
            return resp
        d = torch.stack([torch.zeros_like(z_feat[0]) if m is None else m for m in means])
        return self.model.head(z_feat - self.cfg.distractor_weight * d, feat)

    def _remember(self, idx: np.ndarray, confident: np.ndarray, embeddings: torch.Tensor,
                  logits: torch.Tensor) -> None:
        """Store the distractors (``embeddings`` (n, k, C, h, w), ``logits`` (n, k), -inf for
        none) seen by targets ``idx`` where ``confident``."""
        t, size = self.targets, self.cfg.distractor_memory
        for j, i in enumerate(idx):
            keep = torch.isfinite(logits[j])
            if confident[j] and bool(keep.any()):
                t.d_feat[i], t.d_weight[i] = push(t.d_feat[i], t.d_weight[i], embeddings[j][keep],
                                                  torch.sigmoid(logits[j][keep]), size)

    def _with_relative(self, idx: np.ndarray, cues: np.ndarray) -> np.ndarray:
        """(n, len(CUES)) cues of targets ``idx`` from (n, 5) columns peak, psr, margin, apce,
        cosine (``response_cues``, ``cosine_at_peak``), with ``relative`` (peak minus the
        target's reference peak); the first ``reference_frames`` peaks of a target build its
        reference."""
        t = self.targets
        peak = cues[:, 0]
        count = t.ref_count[idx]
        relative = np.where(count > 0, peak - t.ref_sum[idx] / np.maximum(count, 1), 0.0)
        building = count < self.cfg.reference_frames
        t.ref_sum[idx] += np.where(building, peak, 0.0)
        t.ref_count[idx] += building
        return np.column_stack([peak, relative, cues[:, 1:]])

    def _update_lost(self, scores: np.ndarray, hw: tuple[int, int]) -> None:
        """7. Lost state: ``lost_frames`` scores in a row below ``lost_threshold`` set it, a
        score of at least ``lost_threshold`` clears it."""
        cfg, t = self.cfg, self.targets
        confident = scores >= cfg.lost_threshold
        t.low = np.where(confident, 0, t.low + 1)
        t.good[confident] = np.column_stack([t.center, t.size, t.z_sz])[confident]
        t.lost[confident] = False
        newly = ~t.lost & (t.low >= cfg.lost_frames)
        t.lost |= newly
        if cfg.redetect:
            for i in np.flatnonzero(newly):
                # the wide-search tour starts from the last confident position
                tile = self._wide_side(i) * (1 - cfg.exemplar_size / cfg.wide_size)
                t.tiles[i] = search_centres(hw, tuple(t.good[i, :2]), tile)
                t.tile_next[i] = 0

    def _wide_side(self, i: int) -> float:
        """Frame px covered by target ``i``'s wide-search crop (at its last confident scale)."""
        cfg = self.cfg
        return float(self.targets.good[i, 4] * cfg.wide_size / cfg.exemplar_size)

    def _redetect(self, img: FrameCrops, i: int, hw: tuple[int, int], tracked_score: float
                  ) -> tuple[float, float, np.ndarray] | None:
        """One wide search for lost target ``i`` at the next centre of its tour. When its score
        is at least ``recover_threshold`` and above ``tracked_score`` (the normal step's), the
        target moves there, at its last confident size, and the score, peak score and cues of
        the wide map are returned; else None."""
        cfg, t = self.cfg, self.targets
        tiles = t.tiles[i]
        centre = tiles[t.tile_next[i] % len(tiles)]
        t.tile_next[i] += 1
        side = self._wide_side(i)
        with self.timer.stage("redetect"):
            x = self._backbone_input(img(centre[None], np.array([side]), cfg.wide_size))
            x_feat = self.model.search_features(x).float()
            resp = self.model.response(t.z_feat[i:i + 1], x_feat)[0, 0]
            flat = int(torch.argmax(resp))
            radius = neighbourhood_radius(t.good[i:i + 1, 2:4], cfg.wide_size / side,
                                          cfg.total_stride, resp.shape[0])
            found = torch.cat([response_cues(resp[None], torch.from_numpy(radius)),
                               cosine_at_peak(t.z_feat[i:i + 1], x_feat, resp[None])[:, None]],
                              dim=1).double().numpy()
        peak = float(torch.sigmoid(resp.reshape(-1)[flat]))
        cues = self._reference_free(i, found)
        score = float(self.score_model.score(cues[None])[0])
        if score < cfg.recover_threshold or score <= tracked_score:
            return None
        found = peak_to_frame(divmod(flat, resp.shape[1]), resp.shape[0], centre, side,
                              cfg.wide_size, cfg.total_stride)
        t.center[i] = np.clip(found, 0, [hw[1] - 1, hw[0] - 1])
        t.size[i], t.z_sz[i] = t.good[i, 2:4], t.good[i, 4]
        return score, peak, cues

    def _reference_free(self, i: int, cues: np.ndarray) -> np.ndarray:
        """(len(CUES),) cues of target ``i`` from (1, 5) columns as in ``_with_relative``, with
        ``relative`` against its reference but without adding to it."""
        t = self.targets
        ref = t.ref_sum[i] / t.ref_count[i] if t.ref_count[i] else cues[0, 0]
        return np.concatenate([[cues[0, 0], cues[0, 0] - ref], cues[0, 1:]])


class SiamFCTracker:
    """Single-target SiamFC tracker: ``init(frame, box)`` then ``update(frame)`` per frame.

    >>> tracker = SiamFCTracker.from_pretrained()          # weights/siamfc_mobilenetv2.pth
    >>> tracker.init(first_frame, (x, y, w, h))
    >>> result = tracker.update(next_frame)                # result.box, result.score
    """

    def __init__(self, model: SiamNet, config: TrackerConfig | None = None,
                 device: str | torch.device = "auto", dtype: str = "auto",
                 calibration: dict[str, torch.Tensor] | None = None,
                 cuda_graphs: bool = False, score_model: ScoreModel | None = None) -> None:
        self._multi = SiamFCMultiTracker(model, config, device, dtype, calibration, cuda_graphs,
                                         score_model)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: str = "auto",
                        config: TrackerConfig | str | None = None, backbone: str | None = None,
                        pretrained: bool = True, dtype: str = "auto",
                        cuda_graphs: bool = False, head: str = "xcorr") -> "SiamFCTracker":
        """See ``SiamFCMultiTracker.from_pretrained``."""
        return cls._wrap(SiamFCMultiTracker.from_pretrained(path, device, config, backbone,
                                                            pretrained, dtype, cuda_graphs, head))

    @classmethod
    def _wrap(cls, multi: SiamFCMultiTracker) -> "SiamFCTracker":
        self = cls.__new__(cls)
        self._multi = multi
        return self

    @property
    def config(self) -> TrackerConfig:
        return self._multi.cfg

    @property
    def device(self) -> torch.device:
        return self._multi.device

    @property
    def precision(self) -> str:
        """The backbone precision in use: ``fp32``, ``bf16``, ``fp16`` or ``int8``."""
        return self._multi.precision

    @property
    def score_model(self) -> ScoreModel:
        """What turns the response cues into ``TrackResult.score``."""
        return self._multi.score_model

    def init(self, frame: np.ndarray, box: Sequence[float]) -> None:
        """Start tracking the 0-based (x, y, w, h) ``box`` in ``frame``."""
        arr = np.asarray(box, dtype=np.float64)
        if arr.shape != (4,):
            raise ValueError(f"box must be 4 numbers x, y, w, h, got shape {arr.shape}; "
                             "use SiamFCMultiTracker for several targets")
        self._multi.init(frame, arr[None])

    def update(self, frame: np.ndarray) -> TrackResult:
        """Track the target into ``frame``."""
        return self._multi.update(frame)[0]

    def reposition(self, box: Sequence[float]) -> None:
        """Move the search to the 0-based (x, y, w, h) ``box`` (e.g. a user's correction),
        keeping the exemplar; see ``SiamFCMultiTracker.reposition``."""
        if not self._multi.ids:
            raise RuntimeError("reposition() called before init(): call init(frame, box) first")
        self._multi.reposition(self._multi.ids[0], box)

    def track(self, frames: Iterable[np.ndarray], box: Sequence[float]) -> Iterable[TrackResult]:
        """Yield a result per frame: the first is ``box`` itself (score 1), then updates."""
        it = iter(frames)
        first = next(it, None)
        if first is None:
            return
        self.init(first, box)
        yield TrackResult(tuple(float(v) for v in box), 1.0, 1.0, 0)  # type: ignore[arg-type]
        for frame in it:
            yield self.update(frame)
