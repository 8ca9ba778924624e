"""The box head's first-frame calibration and response peak (regression.py), and the
stretched crops it is fitted on (crops.py)."""
import numpy as np
import pytest
import torch

from tracker.crops import FrameCrops, crop_batch, crop_numpy
from tracker.steps.regression import (CALIBRATION_SCALES, CALIBRATION_STRETCHES, calibrated_sizes,
                                      calibration_warps, fit_calibration, gain_calibration,
                                      nearest_cells, pooled_sizes)


def coordinate_frame(h: int = 120, w: int = 160) -> np.ndarray:
    """float32 (h, w, 3): channel 0 holds x, channel 1 y, channel 2 a constant."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xs, ys, np.full_like(xs, 7.0)], axis=2)


@pytest.mark.parametrize("side", [(40.0, 40.0), (60.0, 20.0), (16.0, 50.0)])
@pytest.mark.parametrize("how", ["numpy", "frame_crops", "torch"])
def test_a_width_height_region_is_stretched_to_the_square(side, how):
    frame, centre, out = coordinate_frame(), (80.0, 60.0), 33
    j = np.arange(out) - (out - 1) / 2
    want_x, want_y = centre[0] + j * side[0] / out, centre[1] + j * side[1] / out
    if how == "numpy":
        crop = crop_numpy(frame, centre, side, out)
    elif how == "frame_crops":
        crop = FrameCrops(frame)(np.array([centre]), np.array([side]), out)[0].permute(1, 2, 0).numpy()
    else:
        img = torch.from_numpy(frame).permute(2, 0, 1)[None]
        crop = crop_batch(img, torch.tensor([centre]), torch.tensor([side]), out)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(crop[:, :, 0], np.broadcast_to(want_x[None], (out, out)), atol=0.05)
    np.testing.assert_allclose(crop[:, :, 1], np.broadcast_to(want_y[:, None], (out, out)), atol=0.05)


def test_a_square_side_and_its_pair_cut_the_same_crop():
    frame = (np.random.default_rng(0).random((90, 120, 3)) * 255).astype(np.uint8)
    crops = FrameCrops(frame)
    centres = np.array([[30.0, 40.0], [100.0, 10.0]])
    torch.testing.assert_close(crops(centres, np.array([50.0, 70.0]), 31),
                               crops(centres, np.array([[50.0, 50.0], [70.0, 70.0]]), 31))


def test_calibration_warps_scale_and_stretch_the_target():
    warps = calibration_warps()
    assert warps.shape == (len(CALIBRATION_SCALES) * len(CALIBRATION_STRETCHES), 2)
    for (fx, fy), (s, a) in zip(warps, [(s, a) for s in CALIBRATION_SCALES
                                        for a in CALIBRATION_STRETCHES]):
        # a w x h target seen through the region: (w / fx) x (h / fy)
        assert np.sqrt(1 / (fx * fy)) == pytest.approx(1 / s) and fy / fx == pytest.approx(a)
    np.testing.assert_allclose(warps[len(warps) // 2], (1.0, 1.0))


def lines_to_wh(true_wh: np.ndarray, k0, ks, j0, ja) -> np.ndarray:
    ts, ta = 0.5 * np.log(true_wh[..., 0] * true_wh[..., 1]), np.log(true_wh[..., 0] / true_wh[..., 1])
    ps, pa = k0 + ks * ts, j0 + ja * ta
    return np.stack([np.exp(ps + pa / 2), np.exp(ps - pa / 2)], axis=-1)


@pytest.mark.parametrize("lines", [(0.0, 1.0, 0.0, 1.0), (1.2, 0.7, -0.2, 0.4), (-0.5, 1.1, 0.3, 0.9)])
def test_fit_recovers_planted_lines_and_the_reading_inverts_them(lines):
    true = np.array([64.0, 48.0]) / calibration_warps()                   # (K, 2) apparent w, h
    predicted = lines_to_wh(true, *lines)
    fitted = fit_calibration(true[None], predicted[None])
    np.testing.assert_allclose(fitted[0], lines, atol=1e-9)
    back = calibrated_sizes(torch.from_numpy(predicted).float().t()[None],  # (1, 2, K)
                            torch.from_numpy(fitted).float())
    np.testing.assert_allclose(back[0].t().numpy(), true, rtol=1e-4)


def test_fit_clips_flat_slopes_through_the_mean():
    true = np.array([64.0, 48.0]) / calibration_warps()
    flat = np.broadcast_to([50.0, 50.0], true.shape)      # the same box whatever the crop
    k0, ks, j0, ja = fit_calibration(true[None], flat[None], min_slope=0.3)[0]
    assert ks == pytest.approx(0.3) and ja == pytest.approx(0.3)
    # the plain crop's (the points' mean) known size is what its prediction reads back as
    back = calibrated_sizes(torch.tensor([[[50.0], [50.0]]]), torch.tensor([[k0, ks, j0, ja]]))
    np.testing.assert_allclose(back[0, :, 0].numpy(), [64.0, 48.0], rtol=1e-4)


def test_gain_lines_multiply_each_side():
    gain = np.array([[2.0, 0.5], [1.0, 3.0]])
    wh = torch.tensor([[[10.0], [20.0]], [[30.0], [5.0]]])                # (2, 2, 1)
    got = calibrated_sizes(wh, torch.from_numpy(gain_calibration(gain)).float())
    torch.testing.assert_close(got[:, :, 0], torch.tensor([[20.0, 10.0], [30.0, 15.0]]))


@pytest.mark.parametrize("row,col,cell", [(135, 135, 8 * 17 + 8), (136, 136, 8 * 17 + 8),
                                          (0, 0, 0), (271, 271, 17 * 17 - 1),
                                          (135, 135 + 32, 8 * 17 + 10), (135 - 16, 135, 7 * 17 + 8)])
def test_nearest_cell_of_an_upsampled_position(row, col, cell):
    assert nearest_cells(torch.tensor([row]), torch.tensor([col]), 16, 17).item() == cell


def sides_map(w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """(N, 4, R, R) l, t, r, b whose boxes have widths ``w`` and heights ``h`` (N, R, R)."""
    return torch.stack([w / 2, h / 2, w / 2, h / 2], dim=1)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("cell", [(8, 8), (0, 0), (16, 3)])
def test_pooled_size_is_the_weighted_geometric_mean_around_the_cell(k, cell):
    g = torch.Generator().manual_seed(k)
    w = torch.exp(torch.rand(2, 17, 17, generator=g) * 3 + 1)
    h = torch.exp(torch.rand(2, 17, 17, generator=g) * 3 + 1)
    weight = torch.rand(2, 17, 17, generator=g)
    got = pooled_sizes(sides_map(w, h), weight, torch.tensor([cell[0] * 17 + cell[1]] * 2), k)
    r0, c0 = max(0, cell[0] - k // 2), max(0, cell[1] - k // 2)
    r1, c1 = min(17, cell[0] + k // 2 + 1), min(17, cell[1] + k // 2 + 1)     # cut at the edges
    a = weight[:, r0:r1, c0:c1].flatten(1)
    a = a / a.sum(dim=1, keepdim=True)
    for i, side in enumerate((w, h)):
        expected = torch.exp((side[:, r0:r1, c0:c1].flatten(1).log() * a).sum(dim=1))
        torch.testing.assert_close(got[:, i], expected)
    if k == 1:
        torch.testing.assert_close(got, torch.stack([w, h], 1)[:, :, cell[0], cell[1]])


def test_pooled_size_ignores_cells_outside_the_window_and_zero_weights():
    w = torch.full((1, 17, 17), 10.0)
    w[0, 8, 8], w[0, 0, 0] = 40.0, 1000.0            # (0, 0): far outside a 3x3 window
    weight = torch.zeros(1, 17, 17)
    got = pooled_sizes(sides_map(w, w.clone()), weight, torch.tensor([8 * 17 + 8]), 3)
    expected = torch.exp((torch.log(torch.tensor(40.0)) + 8 * torch.log(torch.tensor(10.0))) / 9)
    torch.testing.assert_close(got[0], torch.stack([expected, expected]))   # plain mean of 9
    weight[0, 8, 8] = 1.0                            # all the weight on the centre cell
    got = pooled_sizes(sides_map(w, w.clone()), weight, torch.tensor([8 * 17 + 8]), 3)
    torch.testing.assert_close(got[0], torch.tensor([40.0, 40.0]))


@pytest.mark.parametrize("settings,message", [
    (dict(box_cells=2), "box_cells must be odd"), (dict(box_cells=0), "box_cells must be a positive"),
    (dict(box_cells=3, box_peak="cell"), "needs box_peak=response"),
])
def test_box_cells_is_validated(settings, message):
    from tracker.config import TrackerConfig
    with pytest.raises(ValueError, match=message):
        TrackerConfig(**settings)


def test_targets_are_calibrated_alike_together_and_alone(small_clip):
    from tracker.config import TrackerConfig
    from tracker.siamfc import SiamFCMultiTracker

    from .test_box_head import box_net
    net = box_net(head="xcorr-box", seed=1)
    boxes = [small_clip.boxes[0], (20.0, 30.0, 40.0, 24.0)]
    together = SiamFCMultiTracker(net, TrackerConfig(), device="cpu", dtype="fp32")
    together.init(small_clip.frames[0], boxes)
    lines = together.targets.box_cal
    assert lines.shape == (2, 4) and not np.allclose(lines[0], lines[1])
    for i, box in enumerate(boxes):
        alone = SiamFCMultiTracker(net, TrackerConfig(), device="cpu", dtype="fp32")
        alone.init(small_clip.frames[0], [box])
        np.testing.assert_allclose(alone.targets.box_cal[0], lines[i], rtol=1e-4, atol=1e-5)
