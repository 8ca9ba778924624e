"""A common init/update interface over our SiamFC and OpenCV's trackers.

Names: ``siamfc`` (the default preset), ``siamfc-3s``, ``siamfc-5s``, ``siamfc-redetect``
(siamfc-3s with lost-target re-detection), ``opencv-csrt``,
``opencv-kcf``, ``opencv-mil``, ``opencv-nano`` and ``opencv-vit`` (these two need their ONNX
model paths). CSRT and KCF live in ``opencv-contrib-python``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np


class Tracker(Protocol):
    name: str

    def init(self, frame: np.ndarray, box: np.ndarray) -> None: ...

    def update(self, frame: np.ndarray) -> np.ndarray: ...


@dataclass
class TrackerSpec:
    """What a worker process needs to build a tracker (picklable)."""

    name: str
    weights: str | None = None
    device: str = "cpu"
    onnx: dict[str, str] = field(default_factory=dict)
    dtype: str = "fp32"


class SiamFCAdapter:
    def __init__(self, spec: TrackerSpec) -> None:
        from ..config import TrackerConfig
        from ..siamfc import SiamFCTracker
        name, redetect = spec.name.removesuffix("-redetect"), spec.name.endswith("-redetect")
        config = TrackerConfig.preset("siamfc-3s" if name == "siamfc" else name, redetect=redetect)
        self.name = spec.name
        self._tracker = SiamFCTracker.from_pretrained(spec.weights, device=spec.device, config=config,
                                                      dtype=spec.dtype)

    def init(self, frame: np.ndarray, box: np.ndarray) -> None:
        self._tracker.init(frame, box)

    def update(self, frame: np.ndarray) -> np.ndarray:
        return np.asarray(self._tracker.update(frame).box)


class OpenCVAdapter:
    """OpenCV's trackers take integer boxes; a failed update keeps the last box."""

    def __init__(self, spec: TrackerSpec) -> None:
        self.name = spec.name
        self._spec = spec
        self._make = _opencv_factory(spec)
        self._tracker = None
        self._last = np.zeros(4)

    def init(self, frame: np.ndarray, box: np.ndarray) -> None:
        self._tracker = self._make()
        rect = tuple(int(round(v)) for v in box)
        rect = (rect[0], rect[1], max(1, rect[2]), max(1, rect[3]))
        self._tracker.init(frame, rect)
        self._last = np.asarray(box, dtype=np.float64)

    def update(self, frame: np.ndarray) -> np.ndarray:
        ok, rect = self._tracker.update(frame)
        if ok:
            self._last = np.asarray(rect, dtype=np.float64)
        return self._last.copy()


def _opencv_factory(spec: TrackerSpec):
    kind = spec.name.split("-", 1)[1]
    if kind in ("csrt", "kcf"):
        ctor = getattr(cv2, f"Tracker{kind.upper()}_create", None) or \
            getattr(getattr(cv2, "legacy", None), f"Tracker{kind.upper()}_create", None)
        if ctor is None:
            raise ValueError(f"{spec.name} needs OpenCV's contrib modules: "
                             "pip install opencv-contrib-python (replacing opencv-python)")
        return ctor
    if kind == "mil":
        return cv2.TrackerMIL_create
    if kind == "nano":
        backbone, head = spec.onnx.get("nano_backbone"), spec.onnx.get("nano_head")
        if not (backbone and head):
            raise ValueError("opencv-nano needs --nano-backbone and --nano-head ONNX paths")

        def make():
            params = cv2.TrackerNano_Params()
            params.backbone, params.neckhead = backbone, head
            return cv2.TrackerNano_create(params)
        return make
    if kind == "vit":
        model = spec.onnx.get("vit_model")
        if not model:
            raise ValueError("opencv-vit needs --vit-model ONNX path")

        def make_vit():
            params = cv2.TrackerVit_Params()
            params.net = model
            return cv2.TrackerVit_create(params)
        return make_vit
    raise ValueError(f"unknown tracker {spec.name!r}; choose from {available_trackers()}")


def available_trackers() -> list[str]:
    return ["siamfc", "siamfc-3s", "siamfc-5s", "siamfc-redetect", "opencv-csrt", "opencv-kcf", "opencv-mil",
            "opencv-nano", "opencv-vit"]


def make_tracker(spec: TrackerSpec) -> Tracker:
    """Build the tracker named by ``spec`` (``ValueError`` for unknown or unavailable ones)."""
    if spec.name.startswith("siamfc"):
        return SiamFCAdapter(spec)
    if spec.name.startswith("opencv-"):
        return OpenCVAdapter(spec)
    raise ValueError(f"unknown tracker {spec.name!r}; choose from {available_trackers()}")
