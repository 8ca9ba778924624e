"""Confidence: response cues on synthetic maps, the score model, failure-detection metrics."""
import json

import numpy as np
import pytest
import torch

from tracker.confidence import (CUES, RAW_PEAK, ScoreModel, cosine_at_peak, fit_logistic,
                                fit_score_model, neighbourhood_radius, response_cues,
                                score_model_path, sigmoid)
from tracker.evaluation.failures import (failure_runs, failure_stats, flagged_within, roc_auc)


def peaks_map(peaks, size=17, floor=-4.0, width=1.0):
    """(size, size) logits: ``floor`` plus a Gaussian bump of height h - floor at each (r, c, h)."""
    yy, xx = np.mgrid[:size, :size]
    out = np.full((size, size), floor)
    for r, c, h in peaks:
        out = np.maximum(out, floor + (h - floor) * np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * width ** 2)))
    return torch.tensor(out, dtype=torch.float32)


def cues_of(m, radius=2):
    peak, psr, margin, apce = response_cues(m[None], torch.tensor([radius]))[0].tolist()
    return peak, psr, margin, apce


def test_one_peak():
    peak, psr, margin, apce = cues_of(peaks_map([(8, 8, 6.0)]))
    assert peak == pytest.approx(6.0)
    assert margin > 9.0                    # nothing but the floor outside the neighbourhood
    assert psr > 50 and apce > 10


def test_two_equal_peaks_have_no_margin():
    one = cues_of(peaks_map([(4, 4, 6.0)]))
    two = cues_of(peaks_map([(4, 4, 6.0), (12, 12, 6.0)]))
    assert two[0] == pytest.approx(6.0)
    assert two[2] == pytest.approx(0.0, abs=1e-5)
    assert two[1] < one[1] and two[3] < one[3]


@pytest.mark.parametrize("level", [-3.0, 0.0, 5.0])
def test_flat_map(level):
    peak, psr, margin, apce = cues_of(torch.full((17, 17), level))
    assert peak == pytest.approx(level)
    assert psr == pytest.approx(0.0, abs=1e-3) and margin == 0.0 and apce == pytest.approx(0.0)


def test_cues_are_batched_per_map():
    maps = torch.stack([peaks_map([(8, 8, 6.0)]), peaks_map([(3, 3, 2.0), (13, 13, 2.0)])])
    both = response_cues(maps, torch.tensor([2, 2]))
    assert torch.allclose(both[0], response_cues(maps[:1], torch.tensor([2]))[0])
    assert torch.allclose(both[1], response_cues(maps[1:], torch.tensor([2]))[0])


def test_neighbourhood_is_excluded_by_radius():
    # a second peak 3 cells away counts as a rival with radius 1, as the peak's flank with 4
    m = peaks_map([(8, 8, 6.0), (8, 11, 5.0)], width=0.7)
    assert cues_of(m, radius=1)[2] == pytest.approx(1.0, abs=0.05)
    assert cues_of(m, radius=4)[2] > 9.0


@pytest.mark.parametrize("sign", [1.0, -1.0, 0.0])
def test_cosine_at_peak_reads_the_window_under_the_peak(sign):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 8, 12, 12, generator=g)
    z = torch.stack([x[0, :, 3:8, 5:10], x[1, :, 0:5, 7:12]]) * 2.0   # scale does not matter
    z = z if sign else torch.randn(z.shape, generator=g)
    resp = torch.zeros(2, 8, 8)
    resp[0, 3, 5] = 1.0
    resp[1, 0, 7] = 1.0
    cos = cosine_at_peak(sign * z if sign else z, x, resp)
    if sign:
        assert torch.allclose(cos, torch.full((2,), sign), atol=1e-5)
    else:
        assert cos.abs().max() < 0.3                     # unrelated features


@pytest.mark.parametrize("size,zoom,expected", [((40, 40), 1.0, 2), ((400, 400), 1.0, 7),
                                                ((2, 2), 1.0, 1), ((40, 160), 0.6, 3)])
def test_neighbourhood_radius(size, zoom, expected):
    r = neighbourhood_radius(np.array([size], float), np.array([zoom]), 8, 17)
    assert r.tolist() == [expected]


def test_raw_peak_model_is_the_sigmoid_of_the_peak():
    cues = np.zeros((3, len(CUES)))
    cues[:, 0] = [-2.0, 0.0, 3.0]
    cues[:, 1:] = 99.0                     # other cues ignored
    assert np.allclose(RAW_PEAK.score(cues), sigmoid([-2.0, 0.0, 3.0]))


def test_score_model_round_trip(tmp_path):
    model = ScoreModel(("peak", "margin"), (0.5, 2.0), (1.0, 3.0), (2.0, 4.0), -0.25, "test",
                       {"weights_sha256": "ab"})
    path = tmp_path / "m.score.json"
    model.save(path)
    back = ScoreModel.load(path)
    assert back == model and back.extra["weights_sha256"] == "ab"
    cues = np.random.default_rng(0).normal(size=(5, len(CUES)))
    expected = sigmoid(-0.25 + 0.5 * (cues[:, 0] - 1) / 2 + 2.0 * (cues[:, 3] - 3) / 4)
    assert np.allclose(back.score(cues), expected)


@pytest.mark.parametrize("content,match", [("not json", "cannot read"), ("[1, 2]", "not a score model"),
                                           ('{"cues": ["peak"]}', "not a score model"),
                                           ('{"cues": ["nope"], "weights": [1], "mean": [0], '
                                            '"std": [1], "bias": 0}', "unknown cues")])
def test_bad_score_model_file(tmp_path, content, match):
    path = tmp_path / "bad.score.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        ScoreModel.load(path)


def test_score_model_rejects_bad_numbers():
    with pytest.raises(ValueError):
        ScoreModel(("peak",), (1.0,), (0.0,), (0.0,))
    with pytest.raises(ValueError):
        ScoreModel(("peak", "psr"), (1.0,), (0.0,), (1.0,))
    with pytest.raises(ValueError):
        ScoreModel(("peak",), (float("nan"),), (0.0,), (1.0,))


def test_score_model_path():
    assert score_model_path("weights/siamfc_x.pth").name == "siamfc_x.score.json"


def test_fit_logistic_separates():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.3 * rng.normal(size=400) > 0).astype(float)
    w, b = fit_logistic(x, y)
    assert w[0] > 0 > w[1] and abs(w[0] / w[1] + 2) < 0.6
    model = fit_score_model(np.column_stack([x[:, 0], np.zeros(400), x[:, 1], np.zeros((400, 2))]),
                            y, ["peak", "psr"])
    cues = np.column_stack([x[:, 0], np.zeros(400), x[:, 1], np.zeros((400, 2))])
    assert roc_auc(model.score(cues), y > 0.5) > 0.95


def test_fit_logistic_needs_both_classes():
    with pytest.raises(ValueError):
        fit_logistic(np.zeros((5, 1)), np.ones(5))


@pytest.mark.parametrize("scores,labels,auc", [([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 1.0),
                                               ([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 0.0),
                                               ([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1], 0.5),
                                               ([0.1, 0.6, 0.4, 0.9], [0, 0, 1, 1], 0.75)])
def test_roc_auc(scores, labels, auc):
    assert roc_auc(np.array(scores), np.array(labels, bool)) == pytest.approx(auc)


def test_roc_auc_one_class_is_nan():
    assert np.isnan(roc_auc(np.ones(3), np.ones(3, bool)))


def test_failure_runs_and_flags():
    iou = np.array([0.8] * 5 + [0.05] * 12 + [0.7] * 3 + [0.0] * 5 + [np.nan] + [0.0] * 10)
    runs = failure_runs(iou)
    assert runs == [(5, 17), (26, 36)]        # the 5-frame dip is too short; NaN splits
    lost = np.zeros(len(iou), bool)
    lost[14] = True                           # 9 frames after the first run starts
    assert flagged_within(lost, runs) == 1
    assert flagged_within(lost, runs, within=5) == 0


def test_failure_stats_pooled():
    iou = np.array([1.0] + [0.8] * 20 + [0.0] * 20)
    good_score = np.array([1.0] + [0.9] * 20 + [0.2] * 20)
    lost = np.array([False] * 21 + [False] * 3 + [True] * 17)
    stats = failure_stats([(iou, good_score, lost), (iou, good_score[::-1], np.zeros(41, bool))])
    assert stats.frames == 80 and stats.failures == 2 and stats.flagged == 1
    assert stats.recall == 0.5 and stats.false_flag_rate == 0.0
    assert 0.4 < stats.roc_auc < 0.6          # one sequence ranks right, one wrong
    assert json.loads(json.dumps(stats.as_dict()))["recall"] == 0.5
