"""The score model in the tracker: read from beside the weights, checked against them, applied to
the cues; reposition; fitting it on generated training sequences; distractor memory."""
import shutil

import cv2
import numpy as np
import pytest
import torch

from tracker.config import TrackerConfig
from tracker.confidence import CUES, RAW_PEAK, ScoreModel, score_model_path, windows
from tracker.errors import WeightsError
from tracker.model.weights import file_sha256
from tracker.siamfc import SiamFCMultiTracker, SiamFCTracker
from tracker.steps.distractors import push, secondary_peaks, template

from .conftest import random_frame


@pytest.fixture
def weights_copy(tmp_path, random_slim_weights):
    path = tmp_path / "w.pth"
    shutil.copy(random_slim_weights, path)
    return path


def test_without_a_score_model_the_score_is_the_peak(weights_copy, small_clip):
    tracker = SiamFCTracker.from_pretrained(weights_copy, device="cpu", dtype="fp32")
    assert tracker.score_model == RAW_PEAK
    tracker.init(small_clip.frames[0], small_clip.boxes[0])
    r = tracker.update(small_clip.frames[1])
    assert set(r.cues) == set(CUES) and r.cues["relative"] == 0.0     # no reference yet
    # score: sigmoid of the raw map's peak; peak: of the upsampled map (a little higher)
    assert r.score == pytest.approx(1 / (1 + np.exp(-r.cues["peak"])))
    assert r.peak >= r.score - 1e-6
    r2 = tracker.update(small_clip.frames[2])
    assert r2.cues["relative"] == pytest.approx(r2.cues["peak"] - r.cues["peak"], abs=1e-5)


def test_score_model_beside_the_weights_is_used(weights_copy, small_clip):
    model = ScoreModel(("margin",), (2.0,), (0.0,), (1.0,), 0.5, "test",
                       {"weights_sha256": file_sha256(weights_copy)})
    model.save(score_model_path(weights_copy))
    tracker = SiamFCTracker.from_pretrained(weights_copy, device="cpu", dtype="fp32")
    assert tracker.score_model == model
    tracker.init(small_clip.frames[0], small_clip.boxes[0])
    r = tracker.update(small_clip.frames[1])
    assert r.score == pytest.approx(1 / (1 + np.exp(-(0.5 + 2.0 * r.cues["margin"]))))


def test_score_model_for_other_weights_is_refused(weights_copy):
    ScoreModel(weights=(1.0,), extra={"weights_sha256": "0" * 64}).save(score_model_path(weights_copy))
    with pytest.raises(WeightsError, match="fitted for other weights"):
        SiamFCTracker.from_pretrained(weights_copy, device="cpu", dtype="fp32")


def test_broken_score_model_names_the_file(weights_copy):
    score_model_path(weights_copy).write_text("{")
    with pytest.raises(WeightsError, match="w.score.json"):
        SiamFCTracker.from_pretrained(weights_copy, device="cpu", dtype="fp32")


def test_reposition_moves_the_search(random_slim_weights):
    tracker = SiamFCMultiTracker.from_pretrained(random_slim_weights, device="cpu", dtype="fp32")
    frame = random_frame(200, 300)
    ids = tracker.init(frame, [(10, 10, 30, 30), (100, 100, 20, 40)])
    tracker.reposition(ids[1], (200, 50, 40, 20))
    assert np.allclose(tracker.targets.center[1], (219.5, 59.5)) and np.allclose(tracker.targets.size[1], (40, 20))
    assert np.allclose(tracker.targets.center[0], (24.5, 24.5))
    with pytest.raises(KeyError):
        tracker.reposition(7, (0, 0, 5, 5))
    with pytest.raises(ValueError):
        tracker.reposition(ids[0], (0, 0, -5, 5))


def test_secondary_peaks_find_the_look_alike():
    resp = torch.full((1, 17, 17), -3.0)
    resp[0, 8, 8] = 6.0          # the target
    resp[0, 8, 9] = 5.5          # its flank: inside the neighbourhood
    resp[0, 2, 14] = 4.0         # a look-alike
    resp[0, 14, 2] = 1.0         # too weak (more than gap below the peak)
    rows, cols, logits = secondary_peaks(resp, torch.tensor([2]), gap=3.0, k=2)
    assert (rows[0, 0].item(), cols[0, 0].item(), logits[0, 0].item()) == (2, 14, 4.0)
    assert logits[0, 1] == -torch.inf


def test_distractor_windows_and_memory():
    feat = torch.arange(2 * 3 * 10 * 10, dtype=torch.float32).view(2, 3, 10, 10)
    win = windows(feat, torch.tensor([[0], [4]]), torch.tensor([[1], [2]]), 6, 6)
    assert win.shape == (2, 1, 3, 6, 6)
    assert torch.equal(win[1, 0], feat[1, :, 4:10, 2:8])
    mem, w = feat[:0, :, :6, :6], torch.zeros(0)
    for k in range(5):
        mem, w = push(mem, w, torch.full((1, 3, 6, 6), float(k)), torch.tensor([1.0 + k]), size=3)
    assert len(mem) == 3 and w.tolist() == [3.0, 4.0, 5.0]            # the latest three
    assert torch.allclose(template(mem, w), torch.full((3, 6, 6), (2 * 3 + 3 * 4 + 4 * 5) / 12))
    assert template(mem[:0], w[:0]) is None


@pytest.mark.slow
def test_distractors_change_only_the_placement(small_clip):
    results = {}
    for on in (False, True):
        cfg = TrackerConfig(distractors=on, distractor_gap=50.0)    # every local maximum > 0
        tracker = SiamFCMultiTracker.from_pretrained(device="cpu", backbone="alexnet",
                                                     dtype="fp32", config=cfg)
        tracker.init(small_clip.frames[0], [small_clip.boxes[0]])
        results[on] = [tracker.update(f)[0] for f in small_clip.frames[1:4]]
        if on:
            assert len(tracker.targets.d_feat[0]) > 0
    first_off, first_on = results[False][0], results[True][0]
    assert first_off.box == first_on.box        # no distractor stored before the first frame
    assert first_off.cues == first_on.cues


@pytest.mark.parametrize("key,value", [("distractor_weight", 1.5), ("distractor_gap", -1.0),
                                       ("distractors", 1), ("distractor_memory", 0),
                                       ("reference_frames", 0)])
def test_bad_distractor_settings(key, value):
    with pytest.raises(ValueError, match=key):
        TrackerConfig(**{key: value})


def test_single_tracker_reposition(random_slim_weights):
    tracker = SiamFCTracker.from_pretrained(random_slim_weights, device="cpu", dtype="fp32")
    with pytest.raises(RuntimeError, match="init"):
        tracker.reposition((0, 0, 5, 5))
    frame = random_frame(200, 300)
    tracker.init(frame, (10, 10, 30, 30))
    tracker.reposition((100, 50, 20, 10))
    assert np.allclose(tracker._multi.targets.size[0], (20, 10))


@pytest.mark.slow
@pytest.mark.parametrize("online", [True, False])
def test_fit_score_cli_writes_a_model_even_over_a_stale_one(tmp_path, weights_copy, online):
    """fit-score fits the tracker with the online model (``<weights>.online.score.json``) or,
    with --no-online, without it (``<weights>.score.json``)."""
    from tracker.cli import main

    from .test_training import make_got_root
    root = make_got_root(tmp_path / "train", num_seqs=3, frames=8)
    stale = score_model_path(weights_copy, online)
    ScoreModel(weights=(1.0,), extra={"weights_sha256": "0" * 64}).save(stale)
    assert main(["fit-score", "--data", str(root), "--weights", str(weights_copy), "--exemplars",
                 "1", "--device", "cpu", "--dtype", "fp32", "--samples",
                 str(tmp_path / "s.npz"), "--quiet"] + ([] if online else ["--no-online"])) == 0
    model = ScoreModel.load(stale)
    assert model.cues == ("relative", "cosine") and model.extra["online"] is online
    assert model.extra["weights_sha256"] == file_sha256(weights_copy)
    assert (tmp_path / "s.npz").is_file()
    assert not score_model_path(weights_copy, not online).exists()
    tracker = SiamFCTracker.from_pretrained(weights_copy, device="cpu", dtype="fp32",
                                            config=TrackerConfig(online=online))   # accepted now
    assert tracker.score_model == model


def test_the_online_tracker_reads_its_own_score_model_else_the_plain_one(tmp_path, weights_copy):
    from tracker.confidence import score_model_file
    assert score_model_file(weights_copy, True) is None
    plain, online = ScoreModel(weights=(1.0,)), ScoreModel(weights=(2.0,))
    plain.save(score_model_path(weights_copy))
    assert score_model_file(weights_copy, True) == score_model_path(weights_copy)
    online.save(score_model_path(weights_copy, True))
    assert score_model_file(weights_copy, True) == score_model_path(weights_copy, True)
    for on, expected in [(True, online), (False, plain)]:
        tracker = SiamFCTracker.from_pretrained(weights_copy, device="cpu", dtype="fp32",
                                                config=TrackerConfig(online=on))
        assert tracker.score_model == expected
    SiamFCTracker.from_pretrained(weights_copy, device="cpu", dtype="fp32")   # accepted now
