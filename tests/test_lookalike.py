"""The score with the shipped network and its fitted score model: a target swapped for a
look-alike, or gone, must be flagged lost within a few frames; a target that stays must not."""
import functools

import cv2
import numpy as np
import pytest

from tracker.config import TrackerConfig
from tracker.siamfc import SiamFCMultiTracker


def swap_scene(frames=40, swap=15, kind="lookalike", seed=0):
    """A patterned object drifting right on a smooth background; from frame ``swap`` on, its
    place is taken by a look-alike (same colours and size, another pattern), or it is gone
    (``kind="gone"``), or nothing changes (``kind="same"``)."""
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.random((320, 480, 3)).astype(np.float32), (0, 0), 6)
    bg = ((bg - bg.min()) / np.ptp(bg) * 120 + 60).astype(np.uint8)
    yy, xx = np.mgrid[:48, :48]

    def patterned(on):
        obj = np.zeros((48, 48, 3), np.uint8)
        obj[..., 0] = np.where(on, 230, 20)
        obj[..., 1] = 200 - obj[..., 0] // 2
        obj[..., 2] = 90
        return obj

    target = patterned((xx // 12 + yy // 12) % 2 == 1)         # a checkerboard
    other = patterned(np.hypot(xx - 23.5, yy - 23.5) % 16 < 8)  # rings, same colours
    out, boxes = [], []
    for t in range(frames):
        f = bg.copy()
        x, y = 100 + 2 * t, 120
        if t < swap or kind == "same":
            f[y:y + 48, x:x + 48] = target
        elif kind == "lookalike":
            f[y:y + 48, x:x + 48] = other
        out.append(f)
        boxes.append((x, y, 48, 48))
    return out, np.array(boxes, float)


@functools.lru_cache(maxsize=None)
def track_scene(kind):
    """The results on frames 1.. of ``swap_scene(kind)`` (tracked once per kind per run)."""
    frames, boxes = swap_scene(kind=kind)
    tracker = SiamFCMultiTracker.from_pretrained(device="cpu", dtype="fp32",
                                                 config=TrackerConfig())
    tracker.init(frames[0], boxes[0])
    return tuple(tracker.update(f)[0] for f in frames[1:])   # results[k] is frame k + 1


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gone", "same"])
def test_lost_flag_when_the_target_goes(kind):
    results = track_scene(kind)
    lost = np.array([r.lost for r in results])
    assert not lost[:13].any()                             # held while it is the target
    if kind == "same":
        assert not lost.any() and min(r.score for r in results) > 0.9
    else:
        assert max(r.score for r in results[14:]) < 0.1
        assert lost[14 + 10:].all()                        # flagged within 10 frames, and stays


@pytest.mark.slow
def test_lookalike_lowers_the_relative_peak():
    results = track_scene("lookalike")
    before = np.mean([r.cues["relative"] for r in results[8:13]])
    after = np.mean([r.cues["relative"] for r in results[15:20]])
    assert before - after > 3.0                           # the match got clearly worse ...


@pytest.mark.xfail(strict=True, reason="measured gap (issue: a confidence that means "
                   "something): the look-alike's peak (11.7 logits) is above most real tracking "
                   "peaks and stands out from the background (PSR 12), so the fitted score "
                   "stays at 0.96; only the relative peak drops")
def test_lost_flag_after_a_lookalike_swap():
    lost = np.array([r.lost for r in track_scene("lookalike")])
    assert not lost[:13].any() and lost[14 + 10:].all()   # ... but the score does not say so
