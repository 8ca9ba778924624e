import numpy as np
import pytest
import torch

from tracker import SiamFCMultiTracker, SiamFCTracker, TrackerConfig
from tracker.model.weights import load_model

from .conftest import random_frame


@pytest.fixture
def tracker(random_weights, device):
    return SiamFCTracker.from_pretrained(random_weights, device=device)


def assert_sane(box, frame_shape, base):
    h, w = frame_shape[:2]
    x, y, bw, bh = box
    assert np.all(np.isfinite(box))
    cx, cy = x + (bw - 1) / 2, y + (bh - 1) / 2
    assert 0 <= cx <= w - 1 and 0 <= cy <= h - 1
    assert 0.2 * base[0] - 1e-6 <= bw <= 5 * base[0] + 1e-6
    assert 0.2 * base[1] - 1e-6 <= bh <= 5 * base[1] + 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["siamfc-3s", "siamfc-5s"])
def test_contract_random_weights(random_weights, device, small_clip, preset):
    tracker = SiamFCTracker.from_pretrained(random_weights, device=device, config=preset)
    box = small_clip.boxes[0]
    tracker.init(small_clip.frames[0], box)
    scales = set(TrackerConfig.preset(preset).scale_step ** np.arange(-2, 3))
    for frame in small_clip.frames[1:6]:
        result = tracker.update(frame)
        assert_sane(result.box, frame.shape, box[2:])
        assert 0.0 <= result.score <= 1.0 and np.isfinite(result.score)
        assert any(abs(result.scale - s) < 1e-9 for s in scales)


@pytest.mark.parametrize("shape", [(120, 160), (120, 160, 1), (120, 160, 4)])
def test_grey_and_bgra_frames(tracker, shape):
    frame = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    tracker.init(frame, (40, 30, 30, 20))
    assert np.all(np.isfinite(tracker.update(frame).box))


def test_update_before_init(tracker):
    with pytest.raises(RuntimeError, match="before init"):
        tracker.update(random_frame())


@pytest.mark.parametrize("box,match", [((10, 10, 0, 10), "empty"), ((np.nan, 10, 10, 10), "NaN"),
                                       ((500, 500, 10, 10), "outside"), ((1, 2, 3), "4 numbers")])
def test_bad_boxes(tracker, box, match):
    with pytest.raises(ValueError, match=match):
        tracker.init(random_frame(), box)


@pytest.mark.parametrize("frame,match", [(np.zeros((10, 10, 3), np.float32), "uint8"),
                                         (np.zeros((10, 10, 2), np.uint8), "shape"),
                                         ("not an image", "numpy array")])
def test_bad_frames(tracker, frame, match):
    with pytest.raises(ValueError, match=match):
        tracker.init(frame, (1, 1, 5, 5))


def test_identical_frames_stay_put_with_trained_like_response(random_weights):
    """On a static scene the displacement can only come from the response: with the exemplar
    cut from the same frame, the box must stay near its start (cosine window + peak at 0)."""
    tracker = SiamFCTracker.from_pretrained(random_weights, device="cpu")
    frame = random_frame(200, 240, seed=3)
    tracker.init(frame, (100, 80, 40, 40))
    for _ in range(3):
        res = tracker.update(frame)
    assert np.all(np.isfinite(res.box))


@pytest.mark.slow
def test_multi_target_matches_single(random_weights, small_clip):
    """Batched targets track as alone (exclusion off: with it, each target also sees the
    others, which a single tracker cannot)."""
    boxes = np.array([small_clip.boxes[0], [10, 10, 30, 25], [90, 60, 40, 30]])
    multi = SiamFCMultiTracker.from_pretrained(random_weights, device="cpu",
                                               config=TrackerConfig(exclusion=False))
    assert multi.init(small_clip.frames[0], boxes) == [0, 1, 2]
    singles = []
    for box in boxes:
        t = SiamFCTracker.from_pretrained(random_weights, device="cpu")
        t.init(small_clip.frames[0], box)
        singles.append(t)
    for frame in small_clip.frames[1:4]:
        together = multi.update(frame)
        alone = [t.update(frame) for t in singles]
        for a, b in zip(together, alone):
            np.testing.assert_allclose(a.box, b.box, rtol=1e-4, atol=1e-3)
            assert a.score == pytest.approx(b.score, abs=1e-4)


@pytest.mark.slow
def test_add_and_remove_targets(random_weights, small_clip):
    multi = SiamFCMultiTracker(load_model(random_weights), device="cpu")
    multi.init(small_clip.frames[0], [small_clip.boxes[0]])
    new_id = multi.add(small_clip.frames[0], (20, 20, 30, 30))
    assert new_id == 1 and multi.num_targets == 2
    assert [r.target_id for r in multi.update(small_clip.frames[1])] == [0, 1]
    multi.remove(0)
    assert [r.target_id for r in multi.update(small_clip.frames[2])] == [1]
    with pytest.raises(KeyError):
        multi.remove(7)


def test_track_generator(tracker, small_clip):
    results = list(tracker.track(small_clip.frames[:4], small_clip.boxes[0]))
    assert len(results) == 4
    np.testing.assert_allclose(results[0].box, small_clip.boxes[0])


def test_frame_size_may_change(tracker):
    tracker.init(random_frame(120, 160), (40, 30, 30, 20))
    result = tracker.update(random_frame(60, 80))
    assert_sane(result.box, (60, 80), (30, 20))


def test_opencv_crops_track_like_grid_sample(small_clip, monkeypatch):
    """The CPU tracker cuts crops with OpenCV; with the reference ``grid_sample`` crops (the GPU
    path) the shipped lite network follows the same boxes on a clip, within 0.5 px."""
    import tracker.siamfc as siamfc_module
    from tracker.crops import FrameCrops, crop_batch
    from tracker.model.weights import LITE_BACKBONE, default_weights_path

    weights = default_weights_path(LITE_BACKBONE)

    def run():
        t = SiamFCTracker.from_pretrained(weights, device="cpu")
        t.init(small_clip.frames[0], small_clip.boxes[0])
        return np.array([t.update(f).box for f in small_clip.frames[1:]])

    opencv = run()

    class GridCrops(FrameCrops):
        def __call__(self, centers, sizes, out_size):
            img = torch.from_numpy(self._frame.astype(np.float32)).permute(2, 0, 1)[None]
            return crop_batch(img, torch.from_numpy(np.asarray(centers, dtype=np.float64).reshape(-1, 2)),
                              torch.from_numpy(np.asarray(sizes, dtype=np.float64).reshape(-1)),
                              out_size, torch.tensor(self._mean, dtype=torch.float32))

    monkeypatch.setattr(siamfc_module, "FrameCrops", GridCrops)
    grid = run()
    assert np.abs(opencv - grid).max() < 0.5


@pytest.mark.parametrize("backbone,preset", [
    ("mobilenetv2", "siamfc-3s"), ("mobilenetv2_64", "siamfc-1s"),
    ("mobilenetv2_s16", "siamfc-1s"), ("alexnet_slim", "siamfc-3s")])
def test_a_tracker_without_a_config_takes_its_networks_preset(tmp_path, backbone, preset):
    """config=None: the network's preset (config.preset_for), from the network a weights file
    holds (from_pretrained) or is given (the constructor); a given preset wins."""
    from tracker.config import preset_for
    from tracker.model.network import weights_state
    from .conftest import random_net
    assert preset_for(backbone) == preset
    net = random_net(backbone)
    path = tmp_path / "w.pth"
    torch.save(weights_state(net), path)
    loaded = SiamFCTracker.from_pretrained(path, device="cpu", dtype="fp32", runtime="torch")
    assert loaded.config.name == preset
    assert loaded.config.scale_estimate == ("filter" if preset == "siamfc-1s" else "pyramid")
    built = SiamFCMultiTracker(net, device="cpu", dtype="fp32", runtime="torch")
    assert built.cfg.name == preset
    given = SiamFCTracker.from_pretrained(path, device="cpu", config="siamfc-5s", dtype="fp32",
                                          runtime="torch")
    assert given.config.name == "siamfc-5s"
