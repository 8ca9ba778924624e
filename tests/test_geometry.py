import numpy as np
import pytest

from tracker.geometry import (context_size, cxcywh_to_ltwh, hann_window, iou_ltwh,
                              ltwh_to_cxcywh, one_based_to_zero_based, parse_box, scale_factors,
                              validate_box, zero_based_to_one_based)


def test_centre_convention():
    # a 1x1 box at pixel (5, 7) is centred on that pixel; a 10-wide box from 0 at 4.5
    np.testing.assert_allclose(ltwh_to_cxcywh([5, 7, 1, 1]), [5, 7, 1, 1])
    np.testing.assert_allclose(ltwh_to_cxcywh([0, 0, 10, 4]), [4.5, 1.5, 10, 4])


@pytest.mark.parametrize("box", [[0, 0, 1, 1], [10.5, -3.25, 40, 7.5], [[1, 2, 3, 4], [5, 6, 7, 8]]])
def test_round_trips(box):
    np.testing.assert_allclose(cxcywh_to_ltwh(ltwh_to_cxcywh(box)), box)
    np.testing.assert_allclose(zero_based_to_one_based(one_based_to_zero_based(box)), box)


def test_one_based():
    np.testing.assert_allclose(one_based_to_zero_based([1, 1, 5, 6]), [0, 0, 5, 6])


@pytest.mark.parametrize("w,h,expected", [(10, 10, 20.0), (20, 0, np.sqrt(30 * 10)), (4, 16, np.sqrt(14 * 26))])
def test_context_size(w, h, expected):
    assert context_size(w, h, 0.5) == pytest.approx(expected)


@pytest.mark.parametrize("box,match", [
    ([0, 0, 0, 5], "empty"), ([0, 0, 5, -1], "empty"), ([np.nan, 0, 5, 5], "NaN"),
    ([0, 0, np.inf, 5], "NaN or inf"), ([200, 10, 5, 5], "outside"), ([-10, 10, 5, 5], "outside"),
    ([0, 0, 5], "4 numbers"),
])
def test_validate_box_errors(box, match):
    with pytest.raises(ValueError, match=match):
        validate_box(box, (100, 150))


def test_validate_box_partly_outside_is_fine():
    np.testing.assert_allclose(validate_box([-3, -3, 10, 10], (100, 150)), [-3, -3, 10, 10])


@pytest.mark.parametrize("a,b,expected", [
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0), ([0, 0, 10, 10], [5, 0, 10, 10], 50 / 150),
    ([0, 0, 10, 10], [10, 10, 5, 5], 0.0), ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),
    ([0, 0, 4, 4], [1, 1, 2, 2], 4 / 16),
])
def test_iou(a, b, expected):
    assert iou_ltwh(np.array(a), np.array(b)) == pytest.approx(expected)


def test_scales_and_window():
    np.testing.assert_allclose(scale_factors(3, 1.0375), [1 / 1.0375, 1, 1.0375])
    assert scale_factors(5, 1.0255)[2] == 1.0
    win = hann_window(272)
    assert win.shape == (272, 272) and win.sum() == pytest.approx(1.0)
    assert np.unravel_index(win.argmax(), win.shape) in [(135, 135), (135, 136), (136, 135), (136, 136)]


@pytest.mark.parametrize("text,expected", [("1,2,3,4", (1, 2, 3, 4)), (" 1.5, 2 ,3,4 ", (1.5, 2, 3, 4)),
                                           ("-20,-20.5,30,30", (-20, -20.5, 30, 30))])
def test_parse_box(text, expected):
    assert parse_box(text) == expected


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "", "10 20 30 40", "1;2;3;4", "1,2,3,4,5",
                                  "1,,2,3"])
def test_parse_box_errors(text):
    with pytest.raises(ValueError, match="X,Y,W,H"):
        parse_box(text)
