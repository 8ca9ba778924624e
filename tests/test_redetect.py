"""Lost state and re-detection: the tile tour (pure geometry) and a target that vanishes and
comes back far away, with the shipped weights."""
import cv2
import numpy as np
import pytest

from tracker.config import TrackerConfig
from tracker.siamfc import SiamFCMultiTracker
from tracker.steps.redetect import peak_to_frame, search_centres


@pytest.mark.parametrize("hw,side", [((320, 480), 100.0), ((100, 100), 300.0), ((720, 1280), 257.0)])
def test_search_centres_cover_the_frame(hw, side):
    last = (40.0, 30.0)
    centres = search_centres(hw, last, side)
    assert tuple(centres[0]) == last
    dist = np.hypot(*(centres[1:] - last).T)
    assert np.all(np.diff(dist) >= 0)                         # nearest tiles first
    ys, xs = np.mgrid[0:hw[0]:7, 0:hw[1]:7]
    covered = np.zeros(xs.shape, bool)
    for cx, cy in centres[1:]:
        covered |= (np.abs(xs - cx) <= side / 2 + 0.5) & (np.abs(ys - cy) <= side / 2 + 0.5)
    assert covered.all()


@pytest.mark.parametrize("side", [0.0, -3.0, float("nan")])
def test_search_centres_bad_side(side):
    with pytest.raises(ValueError):
        search_centres((100, 100), (5, 5), side)


def test_peak_to_frame_centre_and_offset():
    centre = np.array([100.0, 50.0])
    assert np.allclose(peak_to_frame((8, 8), 17, centre, 255.0, 255, 8), centre)
    # one cell right = 8 crop px = 16 frame px when the crop is shrunk by 2
    assert np.allclose(peak_to_frame((8, 9), 17, centre, 510.0, 255, 8), [116.0, 50.0])


def teleport_scene(frames=45, gone=(15, 25), seed=0):
    """A checker object on a smooth background; it vanishes, then reappears far away."""
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.random((320, 480, 3)).astype(np.float32), (0, 0), 6)
    bg = ((bg - bg.min()) / np.ptp(bg) * 120 + 60).astype(np.uint8)
    yy, xx = np.mgrid[:40, :40]
    obj = np.zeros((40, 40, 3), np.uint8)
    obj[..., 0] = np.where((xx // 10 + yy // 10) % 2, 230, 20)
    obj[..., 1] = 200 - obj[..., 0] // 2
    out, boxes = [], []
    for t in range(frames):
        f = bg.copy()
        x, y = (60 + t, 60) if t < gone[0] else (360, 230)
        if not gone[0] <= t < gone[1]:
            f[y:y + 40, x:x + 40] = obj
        out.append(f)
        boxes.append((x, y, 40, 40))
    return out, np.array(boxes, float)


@pytest.mark.slow
@pytest.mark.parametrize("redetect", [False, True])
def test_lost_and_redetected(redetect):
    frames, boxes = teleport_scene()
    tracker = SiamFCMultiTracker.from_pretrained(device="cpu", dtype="fp32",
                                                 config=TrackerConfig(redetect=redetect))
    tracker.init(frames[0], boxes[0])
    results = [tracker.update(f)[0] for f in frames[1:]]
    lost = [r.lost for r in results]
    assert not any(lost[:13])                       # tracked while visible
    assert all(lost[18:23])                         # flagged while gone (after lost_frames)
    if redetect:
        assert not any(lost[-10:])
        assert np.allclose(results[-1].box, boxes[-1], atol=6)
    else:
        assert all(lost[-10:])                      # plain SiamFC never finds it again
