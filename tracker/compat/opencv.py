"""``TrackerSiamFC``: OpenCV's tracker API (``cv2.TrackerNano``, ``TrackerVit``,
``TrackerCSRT``) over ``SiamFCTracker``, so that switching is one line::

    tracker = cv2.TrackerNano.create()          # before
    tracker = TrackerSiamFC.create()            # after
    tracker.init(frame, (x, y, w, h))
    ok, (x, y, w, h) = tracker.update(frame)

Boxes are OpenCV's: 0-based (x, y, w, h) in pixels, returned as four ``int``s (rounded);
``ok`` is False while the target is flagged lost.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..config import TrackerConfig
from ..results import TrackResult
from ..siamfc import SiamFCTracker


@dataclass(frozen=True)
class TrackerSiamFCParams:
    """What ``TrackerSiamFC.create`` builds (OpenCV's ``Tracker*_Params``): ``weights`` a
    .pth file (None: the shipped default for ``backbone``), ``backbone`` (None: the default
    network), ``device`` ("auto", "cpu", "cuda", ...), ``dtype`` ("auto", "fp32", "bf16",
    ...), ``config`` a ``TrackerConfig`` or a preset name (None: the defaults), ``runtime``
    ("auto", "torch", "openvino")."""

    weights: str | os.PathLike | None = None
    backbone: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    config: TrackerConfig | str | None = None
    runtime: str = "auto"


class TrackerSiamFC:
    """A single-target tracker with OpenCV's ``cv2.Tracker`` methods."""

    Params = TrackerSiamFCParams

    def __init__(self, tracker: SiamFCTracker) -> None:
        self._tracker = tracker
        self._last: TrackResult | None = None

    @classmethod
    def create(cls, params: TrackerSiamFCParams | None = None) -> "TrackerSiamFC":
        """A tracker built from ``params`` (None: the shipped default weights and settings)."""
        p = params if params is not None else TrackerSiamFCParams()
        if not isinstance(p, TrackerSiamFCParams):
            raise TypeError("params must be a TrackerSiamFC.Params (TrackerSiamFCParams), got "
                            f"{type(p).__name__}")
        return cls(SiamFCTracker.from_pretrained(p.weights, device=p.device, config=p.config,
                                                 backbone=p.backbone, dtype=p.dtype,
                                                 runtime=p.runtime))

    @property
    def tracker(self) -> SiamFCTracker:
        """The ``SiamFCTracker`` underneath (scores, cues, the lost flag, ``reposition``)."""
        return self._tracker

    def init(self, image: np.ndarray, boundingBox: Sequence[float]) -> None:
        """Start tracking ``boundingBox`` (x, y, w, h) px in the BGR uint8 ``image``."""
        box = np.asarray(boundingBox, dtype=np.float64).reshape(-1)
        if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= 0 or box[3] <= 0:
            raise ValueError("boundingBox must be (x, y, w, h) with w, h > 0, got "
                             f"{tuple(np.asarray(boundingBox).reshape(-1).tolist())}")
        self._tracker.init(image, box)
        self._last = None

    def update(self, image: np.ndarray) -> tuple[bool, tuple[int, int, int, int]]:
        """Track into ``image``: (found, (x, y, w, h) as ints); found is False while the target
        is flagged lost (the box is then the tracker's last estimate)."""
        self._last = result = self._tracker.update(image)
        x, y, w, h = (int(round(v)) for v in result.box)
        return (not result.lost), (x, y, w, h)

    def getTrackingScore(self) -> float:
        """The last update's confidence in [0, 1] (``TrackerNano``'s method); 1.0 before it."""
        return 1.0 if self._last is None else float(self._last.score)
