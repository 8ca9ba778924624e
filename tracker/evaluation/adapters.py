"""A common init/update interface over our SiamFC and OpenCV's trackers.

Names: ``siamfc`` (with its network's preset, ``config.preset_for``: siamfc-3s for the
default), ``siamfc-3s``, ``siamfc-5s``, ``siamfc-redetect`` (siamfc with lost-target
re-detection), ``siamfc-lite`` (siamfc-3s with ``weights/siamfc_lite.pth``),
``siamfc-box`` (the xcorr-box head, ``weights/siamfc_mobilenetv2_box.pth``: one search crop, the
box regressed), ``siamfc-fast`` (``weights/siamfc_mobilenetv2_s16.pth`` with the ``siamfc-1s``
preset: one search crop and DSST's scale filter), ``opencv-csrt``,
``opencv-kcf``, ``opencv-mil``, ``opencv-nano`` and ``opencv-vit`` (these two need their ONNX
model paths). CSRT and KCF live in ``opencv-contrib-python``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

if TYPE_CHECKING:
    from ..config import TrackerConfig


class Tracker(Protocol):
    name: str

    def init(self, frame: np.ndarray, box: np.ndarray) -> None: ...

    def update(self, frame: np.ndarray) -> np.ndarray: ...   # a box, or a result with .box


# the ONNX files each OpenCV tracker loads (--nano-backbone, --nano-head, --vit-model)
ONNX_USED = {"opencv-nano": ("nano_backbone", "nano_head"), "opencv-vit": ("vit_model",)}


@dataclass
class TrackerSpec:
    """What a worker process needs to build a tracker (picklable)."""

    name: str
    weights: str | None = None
    device: str = "cpu"
    onnx: dict[str, str] = field(default_factory=dict)
    dtype: str = "fp32"                 # "auto": see resolved()
    lite_weights: str | None = None     # for siamfc-lite (default weights/siamfc_lite.pth)
    box_weights: str | None = None      # for siamfc-box (default weights/siamfc_mobilenetv2_box.pth)
    settings: dict[str, object] = field(default_factory=dict)   # TrackerConfig overrides
    runtime: str = "torch"              # of the backbone; "auto": see resolved()

    @property
    def label(self) -> str:
        """Results folder name: the tracker name, plus the precision and the weights file when
        they are not the defaults, so results of different variants are never mixed up."""
        if not self.name.startswith("siamfc"):
            return self.name
        label = self.name
        weights = spec_weights(self)
        if weights:
            label += f"@{Path(weights).stem}"
        label += "".join(f"+{k}={v}" for k, v in sorted(self.settings.items()))
        label = label if self.dtype == "fp32" else f"{label}-{self.dtype}"
        return label if self.runtime == "torch" else f"{label}-{self.runtime}"

    def resolved(self) -> "TrackerSpec":
        """This spec with ``dtype="auto"`` and ``runtime="auto"`` replaced by what the SiamFC
        tracker picks for it on this machine (``int8`` or ``fp32``; ``torch`` or ``openvino``),
        so that the results label names them."""
        if "auto" not in (self.dtype, self.runtime) or not self.name.startswith("siamfc"):
            return self
        adapter = SiamFCAdapter(self)
        return replace(self, dtype=adapter.precision, runtime=adapter.runtime)


def spec_weights(spec: TrackerSpec) -> str | None:
    """The weights path a SiamFC spec was given for its tracker (``lite_weights`` for
    siamfc-lite, ``box_weights`` for siamfc-box, none for siamfc-fast, else ``weights``); None:
    the shipped file."""
    if spec.name.startswith("siamfc-lite"):
        return spec.lite_weights
    if spec.name.startswith("siamfc-box"):
        return spec.box_weights
    if spec.name.startswith("siamfc-fast"):
        return None
    return spec.weights


def weights_path(spec: TrackerSpec) -> Path:
    """The weights file a SiamFC spec loads: the path given for its tracker
    (``spec_weights``), else that tracker's shipped file."""
    from ..model.weights import FAST_BACKBONE, LITE_BACKBONE, default_weights_path
    given = spec_weights(spec)
    if given:
        return Path(given)
    if spec.name.startswith("siamfc-lite"):
        return default_weights_path(LITE_BACKBONE)
    if spec.name.startswith("siamfc-box"):
        return default_weights_path(head="xcorr-box")
    if spec.name.startswith("siamfc-fast"):
        return default_weights_path(FAST_BACKBONE)
    return default_weights_path()


def tracker_config(spec: TrackerSpec) -> "TrackerConfig":
    """The ``TrackerConfig`` a SiamFC spec tracks with: the preset it names, else its
    network's (``config.preset_for``), re-detection for the ``-redetect`` names, and the
    spec's overrides."""
    from ..config import PRESETS, TrackerConfig, preset_for
    from ..model.weights import network_of
    name, redetect = spec.name.removesuffix("-redetect"), spec.name.endswith("-redetect")
    path = weights_path(spec)      # a missing file: the tracker's load names it, not this
    preset = name if name in PRESETS else preset_for(network_of(path) if path.is_file() else None)
    return TrackerConfig.preset(preset, **{"redetect": redetect, **spec.settings})


class SiamFCAdapter:
    def __init__(self, spec: TrackerSpec) -> None:
        from ..siamfc import SiamFCTracker
        config = tracker_config(spec)
        self.name = spec.name
        self._tracker = SiamFCTracker.from_pretrained(weights_path(spec), device=spec.device,
                                                      config=config, dtype=spec.dtype,
                                                      runtime=spec.runtime)
        self.precision, self.runtime = self._tracker.precision, self._tracker.runtime

    def init(self, frame: np.ndarray, box: np.ndarray) -> None:
        self._tracker.init(frame, box)

    def update(self, frame: np.ndarray):
        """The ``TrackResult`` (box, score, lost flag, cues)."""
        return self._tracker.update(frame)


class OpenCVAdapter:
    """OpenCV's trackers take integer boxes; a failed update keeps the last box."""

    def __init__(self, spec: TrackerSpec) -> None:
        self.name = spec.name
        self._spec = spec
        self._make = opencv_factory(spec)
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


def _check_onnx(*paths: str) -> None:
    for path in paths:
        if not Path(path).is_file():
            raise ValueError(f"ONNX model {path} not found: give the path to the downloaded file")


def opencv_factory(spec: TrackerSpec):
    """A no-argument constructor of the OpenCV tracker ``spec`` names (``opencv-csrt``, ...);
    ValueError, saying what to install or pass, when this OpenCV build lacks it."""
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
        _check_onnx(backbone, head)

        def make():
            params = cv2.TrackerNano_Params()
            params.backbone, params.neckhead = backbone, head
            return cv2.TrackerNano_create(params)
        return make
    if kind == "vit":
        model = spec.onnx.get("vit_model")
        if not model:
            raise ValueError("opencv-vit needs --vit-model ONNX path")
        _check_onnx(model)

        def make_vit():
            params = cv2.TrackerVit_Params()
            params.net = model
            return cv2.TrackerVit_create(params)
        return make_vit
    raise ValueError(f"unknown tracker {spec.name!r}; choose from {available_trackers()}")


def available_trackers() -> list[str]:
    return ["siamfc", "siamfc-3s", "siamfc-5s", "siamfc-redetect", "siamfc-lite", "siamfc-box",
            "siamfc-fast",
            "opencv-csrt", "opencv-kcf", "opencv-mil",
            "opencv-nano", "opencv-vit"]


def make_tracker(spec: TrackerSpec) -> Tracker:
    """Build the tracker named by ``spec`` (``ValueError`` for unknown or unavailable ones)."""
    if spec.name.startswith("siamfc"):
        return SiamFCAdapter(spec)
    if spec.name.startswith("opencv-"):
        return OpenCVAdapter(spec)
    raise ValueError(f"unknown tracker {spec.name!r}; choose from {available_trackers()}")
