"""Targets of one tracker keep apart (``steps/exclusion.py``): the pure functions, and two
look-alike targets of which one disappears."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tracker import SiamFCMultiTracker, TrackerConfig
from tracker.geometry import iou_ltwh
from tracker.steps.exclusion import (exclude, excluders, exclusion_bumps, merged,
                                     overlap_of_smaller)


def test_overlap_of_smaller_sees_a_box_inside_another():
    person, face, apart = np.array([0, 0, 40, 100]), np.array([10, 5, 20, 20]), np.array([60, 0, 40, 100])
    assert overlap_of_smaller(person, face) == pytest.approx(1.0)
    assert overlap_of_smaller(face, person) == pytest.approx(1.0)
    assert overlap_of_smaller(person, apart) == 0.0


def test_excluders_skip_itself_lost_targets_and_nested_pairs():
    center = np.array([[100.0, 100.0], [200.0, 100.0], [100.0, 90.0], [300.0, 100.0]])
    size = np.array([[40.0, 100.0], [40.0, 100.0], [20.0, 20.0], [40.0, 100.0]])
    lost = np.array([False, False, False, True])
    pairs = excluders(center, size, lost, 0.5)
    assert not pairs.diagonal().any()
    assert pairs[0, 1] and pairs[1, 0]                      # apart: they exclude each other
    assert not pairs[0, 2] and not pairs[2, 0]              # the face inside its person
    assert not pairs[:, 3].any() and pairs[3, :3].any()     # a lost target excludes nobody


@pytest.mark.parametrize("side", [160.0, 320.0])
def test_bumps_sit_on_the_other_targets_place(side):
    """Target 1 at +40 px right, +16 px down of target 0: on target 0's crop (255 px, stride 8)
    its bump peaks at 40 * 255 / side / 8 cells right and 16 * 255 / side / 8 down."""
    center = np.array([[100.0, 100.0], [140.0, 116.0]])
    size = np.array([[40.0, 40.0], [40.0, 40.0]])
    pairs = np.array([[False, True], [False, False]])
    bumps = exclusion_bumps(center, np.full((2, 3), side), center, size, pairs, 17, 8, 255)
    assert bumps.shape == (2, 3, 17, 17) and not bumps[1].any()
    row, col = divmod(int(np.argmax(bumps[0, 1])), 17)
    assert col - 8 == round(40 * 255 / side / 8) and row - 8 == round(16 * 255 / side / 8)
    assert 0.0 <= bumps.min() and bumps.max() <= 1.0


def test_exclude_moves_the_peak_to_the_next_candidate():
    maps = torch.zeros(1, 1, 17, 17)
    maps[0, 0, 8, 12], maps[0, 0, 8, 4] = 5.0, 3.0        # the other target's place is higher
    bumps = np.zeros((1, 17, 17))
    bumps[0, 8, 11:14] = [0.5, 1.0, 0.5]
    out = exclude(maps, bumps, 1.0)
    assert divmod(int(torch.argmax(out)), 17) == (8, 4)
    assert torch.equal(exclude(maps, np.zeros((1, 17, 17)), 1.0), maps)


def test_merged_flags_the_lower_score_of_overlapping_boxes():
    center = np.array([[100.0, 100.0], [102.0, 101.0], [300.0, 100.0], [301.0, 100.0]])
    size = np.full((4, 2), 40.0)
    scores = np.array([0.9, 0.6, 0.7, 0.7])
    assert merged(center, size, scores, 0.5).tolist() == [False, True, False, True]
    assert not merged(center[:1], size[:1], scores[:1], 0.5).any()


def twin_clip(frames: int = 24, seed: int = 3) -> tuple[list[np.ndarray], np.ndarray]:
    """Two copies of one textured 40x40 patch 64 px apart on a smooth background; the left one
    is covered by the background from frame 4 on. Returns the frames and the two boxes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:240, 0:400]
    background = np.stack([100 + 30 * np.sin(xx / 37.0), 110 + 20 * np.cos(yy / 29.0),
                           90 + 25 * np.sin((xx + yy) / 53.0)], axis=-1).astype(np.uint8)
    patch = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    boxes = np.array([[140.0, 100.0, 40.0, 40.0], [204.0, 100.0, 40.0, 40.0]])
    out = []
    for f in range(frames):
        frame = background.copy()
        for k, (x, y, w, h) in enumerate(boxes.astype(int)):
            if k == 1 or f < 4:
                frame[y:y + h, x:x + w] = patch
        out.append(frame)
    return out, boxes


@pytest.fixture(scope="module")
def twins():
    frames, boxes = twin_clip()
    runs = {}
    for name, cfg in [("off", TrackerConfig(exclusion=False)), ("on", TrackerConfig()),
                      ("flag only", TrackerConfig(exclusion_weight=0.0))]:
        tracker = SiamFCMultiTracker.from_pretrained(config=cfg, device="cpu", dtype="fp32")
        tracker.init(frames[0], boxes)
        runs[name] = [tracker.update(frame) for frame in frames[1:]]
    return runs


def unflagged_merges(results) -> int:
    """Frames where both boxes overlap at IoU >= 0.5 and neither is flagged lost."""
    return sum(1 for a, b in results if iou_ltwh(np.array(a.box), np.array(b.box)) >= 0.5
               and not a.lost and not b.lost)


@pytest.mark.slow
def test_without_exclusion_the_hidden_twins_target_moves_onto_the_other(twins):
    """The clip's premise: left alone, the hidden patch's target takes its twin."""
    assert unflagged_merges(twins["off"]) > 5


@pytest.mark.slow
def test_exclusion_keeps_the_hidden_twins_target_off_the_other(twins):
    assert unflagged_merges(twins["on"]) == 0
    assert all(iou_ltwh(np.array(b.box), np.array([204.0, 100.0, 40.0, 40.0])) > 0.7
               for _, b in twins["on"])                     # the visible twin is kept


@pytest.mark.slow
def test_a_target_that_ends_on_anothers_object_is_flagged(twins):
    """With nothing pushed down (weight 0) the target moves onto its twin, but is flagged."""
    merges = [(a, b) for a, b in twins["flag only"]
              if iou_ltwh(np.array(a.box), np.array(b.box)) >= 0.5]
    assert merges and all(a.lost or b.lost for a, b in merges)
    assert unflagged_merges(twins["flag only"]) == 0
