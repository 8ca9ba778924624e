"""``TrackerSiamFC``: OpenCV's tracker API over ``SiamFCTracker`` (``tracker/compat/opencv.py``)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from tracker import SiamFCTracker, TrackerConfig, TrackerSiamFC
from tracker.compat import TrackerSiamFCParams

from .conftest import random_net, save_random_weights


@pytest.mark.slow
def test_create_update_give_opencvs_types_and_the_trackers_boxes(small_clip):
    net = random_net("alexnet")
    ours = TrackerSiamFC(SiamFCTracker(net, device="cpu", dtype="fp32"))
    plain = SiamFCTracker(net, device="cpu", dtype="fp32")
    first = tuple(int(v) for v in small_clip.boxes[0])
    assert ours.init(small_clip.frames[0], first) is None
    plain.init(small_clip.frames[0], first)
    assert ours.getTrackingScore() == 1.0
    for frame in small_clip.frames[1:6]:
        ok, box = ours.update(frame)
        expected = plain.update(frame)
        assert type(ok) is bool and ok == (not expected.lost)
        assert type(box) is tuple and len(box) == 4 and all(type(v) is int for v in box)
        assert box == tuple(int(round(v)) for v in expected.box)
        assert ours.getTrackingScore() == pytest.approx(expected.score)


class Doubtful:
    """A score model that scores every frame 0.1."""

    def score(self, cues: np.ndarray) -> np.ndarray:
        return np.full(len(cues), 0.1)


def test_update_returns_false_while_the_target_is_lost(small_clip):
    """Scores below lost_threshold for lost_frames (2) frames flag the target: retval False."""
    cfg = TrackerConfig(lost_frames=2)
    ours = TrackerSiamFC(SiamFCTracker(random_net("alexnet"), cfg, device="cpu", dtype="fp32",
                                       score_model=Doubtful()))     # type: ignore[arg-type]
    ours.init(small_clip.frames[0], small_clip.boxes[0])
    assert ours.update(small_clip.frames[1])[0] is True
    ok, box = ours.update(small_clip.frames[2])
    assert ok is False and len(box) == 4 and ours.getTrackingScore() == pytest.approx(0.1)


def test_create_reads_params(tmp_path, small_clip):
    path = save_random_weights(tmp_path, "alexnet", "net.pth")
    ours = TrackerSiamFC.create(TrackerSiamFC.Params(weights=path, device="cpu", dtype="fp32",
                                                      config="siamfc-5s"))
    assert ours.tracker.config.name == "siamfc-5s" and ours.tracker.precision == "fp32"
    ours.init(small_clip.frames[0], small_clip.boxes[0])
    assert ours.update(small_clip.frames[1])[0] is True
    with pytest.raises(TypeError, match="TrackerSiamFC.Params"):
        TrackerSiamFC.create({"device": "cpu"})          # type: ignore[arg-type]


@pytest.mark.parametrize("box", [(1, 2, 0, 5), (1, 2, 3), (np.nan, 0, 4, 4)])
def test_init_refuses_a_bad_box(small_clip, box):
    ours = TrackerSiamFC(SiamFCTracker(random_net("alexnet"), device="cpu", dtype="fp32"))
    with pytest.raises(ValueError, match="boundingBox must be"):
        ours.init(small_clip.frames[0], box)


def test_it_has_the_methods_of_opencvs_trackers():
    names = ("create", "init", "update")
    for cls in (getattr(cv2, "TrackerNano", None), getattr(cv2, "TrackerMIL", None)):
        if cls is not None:
            assert all(hasattr(cls, n) for n in names)
    assert all(hasattr(TrackerSiamFC, n) for n in names + ("getTrackingScore",))
    assert TrackerSiamFC.Params is TrackerSiamFCParams
