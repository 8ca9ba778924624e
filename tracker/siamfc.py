"""The tracker: SiamFC (Bertinetto et al. 2016) for one or many targets, one batched pass per frame.

``SiamFCMultiTracker.update`` is the frame loop; each step lives in ``steps/``:
  1. the frame, prepared once for all of its crops (``crops.FrameCrops``);
  2. the step of the network (``steps.scale_search``: SiamFC's S scales, or one crop and DSST's
     scale filter; ``steps.box``): search crops -> features (``steps.features``) -> response
     (others' places pushed down, ``steps.exclusion``) -> where each target goes and its size;
  3. confidence: the cues against the target's own reference (``steps.scoring``) through the
     ``ScoreModel`` (``confidence.py``); the online model (``steps.online``) learns from it;
  4. with ``distractors``, confident targets remember look-alikes (``steps.distractors``);
  5. with ``redetect``, each lost target runs one wide search crop (``steps.redetect``);
  6. the lost state (``steps.lost``): low scores in a row, or a box on another's object;
  7. one ``TrackResult`` per target (``results.py``). Boxes: 0-based (x, y, w, h) float px.
"""
from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np
import torch

from .confidence import RAW_PEAK, ScoreModel
from .config import TrackerConfig, resolve_config
from .crops import FrameCrops
from .diagnostics.profiling import StageTimer
from .frames import as_bgr
from .geometry import context_size, ltwh_to_cxcywh, validate_box
from .model.network import SiamNet
from .model.runtime import resolve_device
from .model.threads import on_host_threads
from .model.weights import default_weights_path, load_network, load_score_model
from .results import TrackResult, track_results
from .staging import FrameUploader
from .steps.box import BoxStep
from .steps.distractors import remember
from .steps.exclusion import on_another
from .steps.features import Features
from .steps.lost import update_lost
from .steps.online import uses_online
from .steps.online_conv import online_model
from .steps.redetect import WideSearch
from .steps.response import ResponsePeak
from .steps.scale_search import ScaleSearch
from .steps.scoring import relative_cues
from .targets import Targets

__all__ = ["SiamFCMultiTracker", "SiamFCTracker", "TrackResult"]


class SiamFCMultiTracker:
    """Tracks N targets with one batched backbone pass per frame."""

    def __init__(self, model: SiamNet, config: TrackerConfig | None = None,
                 device: str | torch.device = "auto", dtype: str = "auto",
                 calibration: dict[str, torch.Tensor] | None = None,
                 cuda_graphs: bool = False, score_model: ScoreModel | None = None,
                 runtime: str = "auto") -> None:
        cfg = resolve_config(config, model.backbone_name)
        cfg = self.cfg = cfg.with_stride(getattr(model.backbone, "total_stride", cfg.total_stride))
        self.score_model = score_model if score_model is not None else RAW_PEAK
        self.device = resolve_device(device)
        f = self.features = Features(model, cfg, self.device, dtype, calibration, cuda_graphs,
                                     runtime, cfg.search_crops)
        self.model, self.precision, self.dtype, self.runtime = f.model, f.precision, f.dtype, f.runtime
        self.box_head = self.model.regresses_box
        if self.box_head and cfg.distractors:
            raise ValueError("distractor-aware matching (distractors=true) needs weights with "
                             "the xcorr head; these have the box head")
        self.timer = StageTimer(self.device, enabled=False)   # siamfc bench turns it on
        self.online = online_model(cfg, f, self.box_head)
        self.step = (BoxStep if self.box_head else ScaleSearch)(
            cfg, f, ResponsePeak(cfg, self.device), self.timer, self.online)
        self.wide_search = WideSearch(cfg, self.features, self.timer)
        # accelerators: frames go up through pinned buffers, asynchronously
        self._uploader = FrameUploader(self.device) if self.device.type != "cpu" else None
        self._clear()

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: str = "auto",
                        config: TrackerConfig | str | None = None, backbone: str | None = None,
                        pretrained: bool = True, dtype: str = "auto",
                        cuda_graphs: bool = False, head: str = "xcorr",
                        runtime: str = "auto") -> "SiamFCMultiTracker":
        """Load weights (default: ``weights/siamfc_mobilenetv2.pth``) into a tracker.

        ``backbone``: a registered name whose shipped file (``model.weights.DEFAULT_FILES``)
        is used when ``path`` is None; None reads it from the weights file.
        ``config`` is a ``TrackerConfig`` or a preset name; None: the network's preset
        (``config.preset_for``: ``siamfc-3s`` for the default network); ``dtype`` the backbone
        precision: ``fp32``, ``bf16``, ``fp16`` (CUDA), ``int8`` (CPU, with
        ``<weights>.int8.pth``, see ``siamfc quantize``) or ``auto`` (``model.runtime.pick_precision``); ``runtime`` the
        backbone's: ``torch``, ``openvino`` or ``auto`` (``model.runtime.pick_runtime``). The
        tracker's ``precision`` and ``runtime`` say which were chosen.
        ``pretrained=False`` gives random weights: for tests only, never a silent fallback.
        ``cuda_graphs=True`` (CUDA only) replays the backbone from CUDA graphs.
        ``head`` picks the shipped file of another head when ``path`` is None: ``"xcorr-box"``
        (``weights/siamfc_mobilenetv2_box.pth``: one crop per frame, the box regressed); with a
        ``path`` the head is read from the file.
        The score model is ``<weights>.online.score.json`` (with the online model, the default)
        or ``<weights>.score.json`` where there is one (``siamfc fit-score``), else the raw peak.
        """
        if path is None and head != "xcorr" and pretrained:
            path = default_weights_path(backbone, head)
        model, calibration = load_network(path, backbone, pretrained, dtype, device)
        cfg = resolve_config(config, model.backbone_name)
        return cls(model, cfg, device, dtype, calibration, cuda_graphs,
                   load_score_model(path, backbone, pretrained,
                                    uses_online(cfg, model.regresses_box)), runtime)

    def _clear(self) -> None:
        self.targets, self._next_id = Targets(), 0   # per-target state, a row each (targets.py)

    @property
    def ids(self) -> list[int]:
        """The tracked target ids, in order."""
        return self.targets.ids

    @property
    def num_targets(self) -> int:
        return len(self.ids)

    def init(self, frame: np.ndarray, boxes: Sequence[Sequence[float]] | np.ndarray) -> list[int]:
        """Start tracking ``boxes`` ((N, 4) 0-based x, y, w, h) in ``frame``; replaces any
        previous targets. Returns the target ids (0 .. N-1)."""
        frame, arr = as_bgr(frame), np.asarray(boxes, dtype=np.float64)
        arr = arr[None] if arr.ndim == 1 else arr
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
        self.targets = self.targets.select(np.delete(np.arange(len(self.ids)), self._row(target_id)))

    def _row(self, target_id: int) -> int:
        if target_id not in self.ids:
            raise KeyError(f"no target with id {target_id}; tracked ids: {self.ids}")
        return self.ids.index(target_id)

    def reposition(self, target_id: int, box: Sequence[float]) -> None:
        """Move target ``target_id`` to the 0-based (x, y, w, h) ``box`` (e.g. a user's
        correction): the next update searches around it at its size. The exemplar and the
        reference peak stay; the lost state is cleared."""
        i, t = self._row(target_id), self.targets
        arr = np.asarray(box, dtype=np.float64)
        if arr.shape != (4,) or not np.isfinite(arr).all() or arr[2] <= 0 or arr[3] <= 0:
            raise ValueError(f"box must be 4 finite numbers x, y, w, h with w, h > 0, got {box}")
        cxcywh = ltwh_to_cxcywh(arr[None])[0]
        t.center[i], t.size[i] = cxcywh[:2], cxcywh[2:]
        t.z_sz[i] = context_size(cxcywh[2:3], cxcywh[3:4], self.cfg.context)[0]
        t.lost[i], t.low[i] = False, 0
        t.good[i] = np.concatenate([t.center[i], t.size[i], [t.z_sz[i]]])

    @torch.inference_mode()
    @on_host_threads
    def _add(self, frame: np.ndarray, boxes: np.ndarray) -> None:
        cfg, cxcywh = self.cfg, ltwh_to_cxcywh(boxes)
        center, size = cxcywh[:, :2], cxcywh[:, 2:]
        z_sz = context_size(size[:, 0], size[:, 1], cfg.context)   # sqrt((w + p)(h + p))
        img = FrameCrops(frame, self.device, self._uploader)
        feat = self.features.exemplar(img(center, z_sz, cfg.exemplar_size))
        new = Targets.start(range(self._next_id, self._next_id + len(boxes)), center, size, z_sz, feat)
        self._next_id += len(boxes)
        for part in (self.step, self.online):       # their per-target state
            if part is not None:
                for name, value in part.start(img, center, size, z_sz, feat).items():
                    setattr(new, name, value)
        self.targets = self.targets.concat(new)

    @property
    def lost(self) -> list[bool]:
        """Per target (id order): flagged lost."""
        return [bool(v) for v in self.targets.lost]

    @torch.inference_mode()
    @on_host_threads
    def update(self, frame: np.ndarray) -> list[TrackResult]:
        """Track all targets into ``frame``; one ``TrackResult`` per target, in id order."""
        cfg, t, timer = self.cfg, self.targets, self.timer
        if t.z_feat is None or not self.ids:
            raise RuntimeError("update() called before init(): call init(frame, box) first")
        frame = as_bgr(frame)
        hw = frame.shape[:2]
        with timer.stage("crop"):
            img = FrameCrops(frame, self.device, self._uploader)
        moved = self.step(img, t, hw)                 # crops -> features -> response -> moves
        with timer.stage("bookkeeping"):
            t.center, t.size, t.z_sz = moved.center, moved.size, moved.z_sz
            cues = relative_cues(t, moved.cues, cfg.reference_frames)
        scores, peaks = self.score_model.score(cues), moved.peak
        taken = on_another(t, scores, cfg)  # on another target's object: flagged, not learned
        if moved.sample is not None:       # the online model learns from confident frames
            with timer.stage("online"):
                self.online.learn(t, (scores >= cfg.online_min_score) & ~t.lost & ~taken,
                                  *moved.sample)
        if moved.found is not None:        # distractors seen by confidently tracked targets
            remember(t, (scores >= cfg.lost_threshold) & ~taken, *moved.found, cfg.distractor_memory)
        if cfg.redetect:                   # lost targets: one wide search crop each
            self.wide_search.recover(img, t, self.score_model, hw, scores, peaks, cues)
        with timer.stage("bookkeeping"):
            update_lost(t, scores, cfg, hw, taken)
            results = track_results(t, scores, moved.scale, peaks, cues)
        timer.lap()
        return results


class SiamFCTracker:
    """Single-target SiamFC tracker: ``init(frame, box)`` then ``update(frame)`` per frame.

    >>> tracker = SiamFCTracker.from_pretrained()          # weights/siamfc_mobilenetv2.pth
    >>> tracker.init(first_frame, (x, y, w, h))
    >>> result = tracker.update(next_frame)                # result.box, result.score
    """

    def __init__(self, model: SiamNet, config: TrackerConfig | None = None,
                 device: str | torch.device = "auto", dtype: str = "auto",
                 calibration: dict[str, torch.Tensor] | None = None,
                 cuda_graphs: bool = False, score_model: ScoreModel | None = None,
                 runtime: str = "auto") -> None:
        self._multi = SiamFCMultiTracker(model, config, device, dtype, calibration, cuda_graphs,
                                         score_model, runtime)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: str = "auto",
                        config: TrackerConfig | str | None = None, backbone: str | None = None,
                        pretrained: bool = True, dtype: str = "auto",
                        cuda_graphs: bool = False, head: str = "xcorr",
                        runtime: str = "auto") -> "SiamFCTracker":
        """See ``SiamFCMultiTracker.from_pretrained``."""
        return cls._wrap(SiamFCMultiTracker.from_pretrained(
            path, device, config, backbone, pretrained, dtype, cuda_graphs, head, runtime))

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
    def runtime(self) -> str:
        """The backbone's runtime in use: ``torch`` or ``openvino``."""
        return self._multi.runtime

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
