"""Metrics against hand-computed cases (got10k ExperimentOTB conventions)."""
import numpy as np
import pytest

from tracker.evaluation.metrics import (PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS, center_error,
                             evaluate_sequence, normalized_center_error, overall,
                             precision_curve, success_curve)


def test_thresholds():
    assert len(SUCCESS_THRESHOLDS) == 21 and SUCCESS_THRESHOLDS[10] == 0.5
    assert len(PRECISION_THRESHOLDS) == 51 and PRECISION_THRESHOLDS[20] == 20


def test_success_is_strictly_greater():
    curve = success_curve(np.array([0.5]))
    assert curve[9] == 1.0 and curve[10] == 0.0     # 0.5 > 0.45 but not > 0.5
    assert success_curve(np.array([0.0]))[0] == 0.0  # IoU 0 never counts
    assert success_curve(np.array([1.0]))[20] == 0.0


def test_precision_is_less_or_equal():
    curve = precision_curve(np.array([20.0]))
    assert curve[20] == 1.0 and curve[19] == 0.0


def test_center_error_uses_w_minus_one():
    assert center_error(np.array([[0, 0, 10, 10]]), np.array([[3, 4, 10, 10]]))[0] == 5.0
    # same top-left, different sizes: centres 4.5 vs 9.5
    assert center_error(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 20, 10]]))[0] == 5.0
    assert normalized_center_error(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 10, 10]]))[0] == 0.5


def test_sequence_scores_by_hand():
    gt = np.array([[0, 0, 10, 10]] * 4, float)
    pred = np.array([[99, 99, 1, 1],      # replaced by ground truth (first frame)
                     [0, 0, 10, 10],      # IoU 1
                     [0, 0, 5, 10],       # IoU 0.5, centre error 2.5
                     [50, 50, 10, 10]], float)   # IoU 0, error 50*sqrt2
    r = evaluate_sequence(pred, gt)
    expected_ious = np.array([1, 1, 0.5, 0])
    np.testing.assert_allclose(r.success_curve, [(expected_ious > t).mean() for t in SUCCESS_THRESHOLDS])
    assert r.success_rate == pytest.approx(0.5)           # only the two IoU-1 frames
    assert r.precision_score == pytest.approx(0.75)
    assert r.success_score == pytest.approx(np.mean(r.success_curve))


def test_absent_frames_are_left_out():
    gt = np.array([[0, 0, 10, 10], [np.nan] * 4, [0, 0, 10, 10], [0, 0, 0, 0]], float)
    pred = np.array([[0, 0, 10, 10], [70, 70, 5, 5], [0, 0, 10, 10], [80, 80, 5, 5]], float)
    r = evaluate_sequence(pred, gt)
    assert r.success_rate == 1.0 and r.precision_score == 1.0


def test_nan_predictions_count_as_failures():
    gt = np.array([[0, 0, 10, 10]] * 2, float)
    pred = np.array([[0, 0, 10, 10], [np.nan] * 4])
    r = evaluate_sequence(pred, gt)
    assert r.success_rate == 0.5 and r.precision_score == 0.5


def test_overall_averages_sequences_not_frames():
    long_good = evaluate_sequence(np.array([[0, 0, 10, 10]] * 9, float), np.array([[0, 0, 10, 10]] * 9, float))
    short_bad = evaluate_sequence(np.array([[0, 0, 10, 10], [50, 50, 10, 10]], float),
                                  np.array([[0, 0, 10, 10]] * 2, float))
    total = overall([long_good, short_bad])
    assert total.success_rate == pytest.approx((1.0 + 0.5) / 2)   # not 10/11


def test_speed_excludes_init_frame():
    gt = np.array([[0, 0, 10, 10]] * 3, float)
    r = evaluate_sequence(gt, gt, times=np.array([5.0, 0.1, 0.1]))
    assert r.speed_fps == pytest.approx(10.0)


@pytest.mark.parametrize("pred,gt", [(np.zeros((3, 4)), np.zeros((2, 4))), (np.zeros((0, 4)), np.zeros((0, 4)))])
def test_shape_errors(pred, gt):
    with pytest.raises(ValueError):
        evaluate_sequence(pred, gt)
