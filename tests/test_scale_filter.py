"""DSST's scale filter (``steps/scale_filter.py``): its pure functions, a known zoom found on
generated frames, its learning, and the one-crop tracker that uses it."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from tracker import SiamFCMultiTracker, SiamFCTracker, TrackerConfig
from tracker.diagnostics.synthetic import make_clip
from tracker.geometry import iou_ltwh
from tracker.targets import Targets
from tracker.steps.scale_filter import (BINS, CELL, MODEL_AREA, NUM_SCALES, ScaleFilter,
                                        model_size, scale_features, scale_label, scale_patches)

from .conftest import random_net

CENTRE = np.array([[200.0, 200.0]])
SIZE = np.array([[60.0, 40.0]])


def textured_frame(zoom: float, seed: int = 0) -> np.ndarray:
    """(400, 400) uint8 smooth noise zoomed by ``zoom`` about (200, 200): a target there
    looks ``zoom`` x larger."""
    tex = cv2.GaussianBlur(np.random.default_rng(seed).uniform(0, 255, (400, 400))
                           .astype(np.float32), (0, 0), 2)
    m = np.array([[zoom, 0, 200 - zoom * 200], [0, zoom, 200 - zoom * 200]])
    out = cv2.warpAffine(tex, m, (400, 400), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(out, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [(60, 40), (300, 100), (10, 10), (3, 200)])
def test_model_size_keeps_the_shape_within_the_area(size):
    wh = model_size(np.array(size, float))
    assert (wh % CELL == 0).all() and (wh >= 2 * CELL).all()
    if min(size) >= 2 * CELL:
        assert wh.prod() <= MODEL_AREA * 1.3
        assert wh[0] / wh[1] == pytest.approx(size[0] / size[1], rel=0.35)


def test_scale_patches_cover_the_scaled_region():
    frame = np.zeros((100, 100), np.float32)
    frame[40:60, 30:70] = 255                       # a 40x20 white box centred at (49.5, 49.5)
    patches = scale_patches(frame, np.array([49.5, 49.5]), np.array([40.0, 20.0]),
                            np.array([1.0, 2.0]), np.array([16, 8]))
    assert patches.shape == (2, 8, 16) and patches.dtype == np.float32
    assert patches[0].min() > 200                    # the box fills the patch at scale 1 ...
    assert patches[1][0].max() < 60 and patches[1][4, 8] > 200   # ... its middle at scale 2


def test_features_normalise_contrast_and_keep_the_grey_level():
    rng = np.random.default_rng(0)
    patches = rng.uniform(50, 150, (3, 16, 24)).astype(np.float32)
    f = scale_features(patches)
    cells = (16 // CELL) * (24 // CELL)
    assert f.shape == (3, cells * (BINS + 1))
    g = scale_features(patches * 1.5).reshape(3, cells, BINS + 1)
    f = f.reshape(3, cells, BINS + 1)
    np.testing.assert_allclose(g[..., :BINS], f[..., :BINS], atol=2e-3)    # histograms
    np.testing.assert_allclose(g[..., BINS], f[..., BINS] * 1.5, rtol=1e-6)  # grey level


@pytest.mark.parametrize("angle, bin_", [(0, 0), (30, 1), (90, 4), (150, 7), (180, 0),
                                         (270, 4)])
def test_an_edge_falls_in_its_unsigned_orientation_bin(angle, bin_):
    """A ramp rising along ``angle`` degrees puts all its gradient energy in one bin of 20
    degrees, the same for opposite directions."""
    yy, xx = np.mgrid[0:16, 0:16].astype(np.float32)
    a = np.radians(angle + 5)                     # mid-bin: away from the bin edges
    ramp = 100 + 5 * (np.cos(a) * xx + np.sin(a) * yy)
    hist = scale_features(ramp[None]).reshape(16, BINS + 1)[5, :BINS]    # an inner cell
    assert hist.argmax() == bin_ and hist[bin_] > 0.99


def test_label_peaks_at_the_middle_scale():
    label = np.fft.ifft(scale_label()).real
    assert int(np.argmax(label)) == NUM_SCALES // 2
    np.testing.assert_allclose(label, label[::-1], atol=1e-12)


@pytest.mark.parametrize("zoom", [1.0, 1.02, 1.04, 1.08, 0.96, 0.9])
def test_filter_finds_a_known_zoom(zoom):
    sf = ScaleFilter(1.02, 0.025)
    state = sf.start(textured_frame(1.0), CENTRE, SIZE)
    found = sf.estimate(textured_frame(zoom), CENTRE, SIZE, *state)
    assert found[0] == pytest.approx(zoom, rel=0.011)          # within half a step


def test_learning_at_rate_one_restarts_the_filter():
    sf = ScaleFilter(1.02, 1.0)
    shapes, nums, dens = sf.start(textured_frame(1.0), CENTRE, SIZE)
    again = sf.start(textured_frame(1.1, seed=3), CENTRE, SIZE)
    sf.learn(textured_frame(1.1, seed=3), CENTRE, SIZE, np.array([True]), shapes, nums, dens)
    np.testing.assert_allclose(nums[0], again[1][0])
    np.testing.assert_allclose(dens[0], again[2][0])
    kept = [n.copy() for n in nums]
    sf.learn(textured_frame(1.0), CENTRE, SIZE, np.array([False]), shapes, nums, dens)
    np.testing.assert_array_equal(nums[0], kept[0])                # a row not asked to learn


def test_config_checks_the_scale_estimate():
    with pytest.raises(ValueError, match="scale_estimate"):
        TrackerConfig(scale_estimate="both")
    with pytest.raises(ValueError, match="scale_filter_step"):
        TrackerConfig(scale_filter_step=1.0)
    with pytest.raises(ValueError, match="scale_filter_lr"):
        TrackerConfig(scale_filter_lr=0.0)


def test_one_search_crop_per_target_and_frame():
    """The filter's tracker runs the search branch on one crop per target, not the pyramid's
    three; its targets carry filters that select and concat with them."""
    cfg = TrackerConfig(scale_estimate="filter", online=False)
    tracker = SiamFCMultiTracker(random_net("alexnet_slim"), cfg, device="cpu", dtype="fp32")
    clip = make_clip(num_frames=3, size=(320, 240), seed=2)
    tracker.init(clip.frames[0], [clip.boxes[0], clip.boxes[0] + [40, 30, 0, 0]])
    seen = []
    search = tracker.features.search
    tracker.features.search = lambda x: seen.append(len(x)) or search(x)
    tracker.update(clip.frames[1])
    assert seen == [2]
    tracker.remove(0)
    assert len(tracker.targets.sf_num) == 1 and tracker.targets.sf_num[0].shape[1] == NUM_SCALES
    assert len(tracker.update(clip.frames[2])) == 1


@pytest.mark.slow
def test_filter_follows_a_growing_and_shrinking_object():
    """The generated clip's object scales between 0.7x and 1.4x: with one crop per frame and
    the filter the default network follows its size as well as its pyramid does (mean IoU)."""
    clip = make_clip(num_frames=80, seed=0, occlusion=False)
    ious = {}
    for estimate in ("pyramid", "filter"):
        torch.manual_seed(0)
        tracker = SiamFCTracker.from_pretrained(config=TrackerConfig(scale_estimate=estimate),
                                                dtype="fp32")
        boxes = [r.box for r in tracker.track(clip.frames, clip.boxes[0])]
        ious[estimate] = float(iou_ltwh(np.array(boxes), clip.boxes).mean())
    assert ious["filter"] > 0.6
    assert ious["filter"] > ious["pyramid"] - 0.1


@pytest.mark.parametrize("zoom", [1.04, 0.94])
def test_the_sample_at_the_new_size_is_the_old_one_shifted(zoom):
    """What ``track`` learns from without sampling again: the descriptors at the new size equal
    the ones just taken, shifted along the geometric scale axis (but for the end scales)."""
    sf = ScaleFilter(1.02, 0.025)
    frame = textured_frame(zoom)
    shape = model_size(SIZE[0])
    old = sf.descriptors(frame, CENTRE[0], SIZE[0], shape)
    k = int(np.argmin(np.abs(sf.factors - zoom)))
    new = sf.descriptors(frame, CENTRE[0], SIZE[0] * sf.factors[k], shape)
    shift = k - NUM_SCALES // 2
    inner = slice(max(0, -shift), NUM_SCALES - max(0, shift))
    np.testing.assert_allclose(new[inner], old[inner.start + shift:inner.stop + shift], atol=2e-2)


def test_track_finds_the_zoom_and_learns_where_it_put_the_target():
    sf = ScaleFilter(1.02, 0.5)
    t = Targets.start([0], CENTRE, SIZE.copy(), np.array([100.0]), torch.zeros(1, 1, 1, 1))
    t.sf_shape, t.sf_num, t.sf_den = (list(v) for v in sf.start(textured_frame(1.0), CENTRE, SIZE))
    size = sf.track(textured_frame(1.04), t, CENTRE, SIZE * 0.2, SIZE * 5)
    np.testing.assert_allclose(size, SIZE * 1.02 ** 2)
    t.size = size                     # at the new size the zoomed frame is the filter's middle
    assert sf.estimate(textured_frame(1.04), CENTRE, size, t.sf_shape, t.sf_num,
                       t.sf_den)[0] == pytest.approx(1.0)
    clipped = sf.track(textured_frame(1.1), t, CENTRE, size * 0.2, size * 1.01)
    np.testing.assert_allclose(clipped, size * 1.01)
