"""The online target model (``steps/online.py``): the correlation filter's pure functions on
generated features, its update, batching, the switch, and the random-texture clip."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tracker import SiamFCMultiTracker, SiamFCTracker, TrackerConfig
from tracker.diagnostics.synthetic import make_texture_clip
from tracker.geometry import iou_ltwh
from tracker.steps.online import (_conjugate_gradient, augment, blend, blend_rows,
                                  feature_centres, filter_response, gaussian_labels, hann2d,
                                  normalised, principal_axes, sample_terms, solve, spectra,
                                  to_response_grid)

from tracker.steps.online_conv import conv_response, filter_gradient
from tracker.steps.online_conv import fit as conv_fit

from .conftest import random_net


def features(seed: int, c: int = 16, h: int = 24, w: int = 24) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(1, c, h, w))).float()


def eye(c: int = 16) -> torch.Tensor:
    return torch.eye(c)[None]


def fit(feat: torch.Tensor, centre: tuple[float, float], sigma: float = 1.0):
    """The regression terms and the exact filter of one sample (label at ``centre``)."""
    h, w = feat.shape[-2:]
    x = spectra(feat, eye(feat.shape[1]), hann2d(h, w))
    labels = gaussian_labels(torch.tensor([centre]), torch.tensor([sigma]), h, w)
    rhs, stats = sample_terms(x, labels)
    return rhs, stats, solve(stats, rhs, torch.zeros_like(rhs), 0.01, 2 * feat.shape[1])


def response(filt: torch.Tensor, feat: torch.Tensor, window: torch.Tensor | None = None):
    h, w = feat.shape[-2:]
    x = spectra(feat, eye(feat.shape[1]), hann2d(h, w) if window is None else window)
    return filter_response(filt, x, (h, w))[0]


@pytest.mark.parametrize("shift", [(0, 0), (3, -2), (-5, 4), (6, 6)])
def test_filter_finds_a_pattern_at_a_known_shift(shift):
    """Learned on a pattern with its label at the centre, the filter's response on the pattern
    moved by (dy, dx) cells (circularly) peaks (dy, dx) cells from the centre."""
    feat = features(0)
    h, w = feat.shape[-2:]
    _, _, filt = fit(feat, ((h - 1) / 2, (w - 1) / 2))
    moved = torch.roll(feat, shifts=shift, dims=(2, 3))
    # the window moves with the pattern: the same windowed pattern, only shifted
    r = response(filt, moved, hann2d(h, w).roll(shift, (0, 1)))
    row, col = divmod(int(torch.argmax(r)), w)
    # the label sits at 11.5: its peak cells are 11 and 12; the shift moves them
    assert row - shift[0] in (11, 12) and col - shift[1] in (11, 12)


def test_filter_tells_its_pattern_from_another():
    feat, other = features(0), features(1)
    _, _, filt = fit(feat, (11.5, 11.5))
    own, foreign = response(filt, feat).amax(), response(filt, other).amax()
    assert own > 0.5 and foreign < 0.3 * own


def test_one_sample_filter_is_the_closed_form():
    """For one sample the ridge solution is MOSSE's: h = x conj(Y) / (|x|^2 + lambda)."""
    feat = features(2, c=8)
    rhs, stats, filt = fit(feat, (11.5, 11.5))
    energy = torch.diagonal(stats, dim1=-2, dim2=-1).real.sum(-1)             # (1, F)
    lam = 0.01 * energy.mean()
    torch.testing.assert_close(filt, rhs / (energy + lam)[..., None], rtol=1e-3, atol=1e-5)


def test_conjugate_gradient_converges_from_any_start():
    feats = torch.cat([features(s, c=8) for s in range(3)])
    x = spectra(feats, eye(8).repeat(3, 1, 1), hann2d(24, 24))
    labels = gaussian_labels(torch.full((3, 2), 11.5), torch.ones(3), 24, 24)
    rhs, stats = sample_terms(x, labels)
    rhs, stats = rhs.mean(0, keepdim=True), stats.mean(0, keepdim=True)     # three samples
    exact = solve(stats, rhs, torch.zeros_like(rhs), 0.01, 16)
    lam = 0.01 * torch.diagonal(stats, dim1=-2, dim2=-1).real.sum(-1).mean()
    system = stats + lam * torch.eye(8)
    torch.testing.assert_close((system @ exact[..., None])[..., 0], rhs, rtol=1e-3, atol=1e-4)
    warm = solve(stats, rhs, exact + 0.1 * torch.randn_like(exact), 0.01, 16)
    torch.testing.assert_close(warm, exact, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("steps", [1, 3])
def test_cpu_steps_in_numpy_equal_the_torch_steps(steps):
    """On the CPU ``solve`` runs the same steps in numpy (what a GPU runs in torch)."""
    feats = torch.cat([features(s, c=8) for s in range(12)])        # 12 samples: S full rank
    x = spectra(feats, eye(8).repeat(12, 1, 1), hann2d(24, 24))
    rhs, stats = sample_terms(x, gaussian_labels(torch.full((12, 2), 11.5), torch.ones(12), 24, 24))
    rhs, stats = rhs.mean(0, keepdim=True), stats.mean(0, keepdim=True)
    start = 0.1 * torch.randn_like(rhs)
    fast = solve(stats, rhs, start, 0.01, steps)
    assert fast.dtype == rhs.dtype and fast.shape == rhs.shape
    torch.testing.assert_close(fast, _conjugate_gradient(torch, stats, rhs, start, 0.01, steps),
                               rtol=1e-3, atol=1e-4)


def test_featureless_samples_give_a_zero_filter():
    zero = torch.zeros(1, 4, 3, dtype=torch.complex64)
    filt = solve(torch.zeros(1, 4, 3, 3, dtype=torch.complex64), zero, zero, 0.01, 5)
    assert torch.equal(filt, zero)


def test_blend_weighs_the_new_sample_by_the_rate_in_place():
    old = torch.randn(2, 5, 3, dtype=torch.complex64)
    new = torch.randn(2, 5, 3, dtype=torch.complex64)
    expected = 0.9 * old + 0.1 * new
    out = blend(old, new, 0.1)
    assert out.data_ptr() == old.data_ptr()
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("rows", [None, [1], [0, 2]])
def test_blend_rows_changes_only_the_learning_rows(rows):
    state = torch.randn(3, 4, 2, dtype=torch.complex64)
    before = state.clone()
    picked = list(range(3)) if rows is None else rows
    sample = torch.randn(len(picked), 4, 2, dtype=torch.complex64)
    out = blend_rows(state, None if rows is None else torch.tensor(rows), sample, 0.25)
    torch.testing.assert_close(out, 0.75 * before[picked] + 0.25 * sample)
    torch.testing.assert_close(state[picked], out)
    others = [i for i in range(3) if i not in picked]
    assert torch.equal(state[others], before[others])


def test_update_moves_the_filter_towards_the_new_sample():
    """A sample added with weight lr raises the response to it and lowers the old one's."""
    old, new = features(0), features(1)
    rhs, stats, filt = fit(old, (11.5, 11.5))
    rhs_new, stats_new, _ = fit(new, (11.5, 11.5))
    lr = 0.1
    updated = solve((1 - lr) * stats + lr * stats_new, (1 - lr) * rhs + lr * rhs_new, filt,
                    0.01, 32)
    assert response(updated, new).amax() > 1.15 * response(filt, new).amax()
    assert response(updated, old).amax() < response(filt, old).amax()


def test_principal_axes_keep_the_energy_of_low_rank_features():
    rng = np.random.default_rng(0)
    basis = torch.from_numpy(rng.normal(size=(16, 3))).float()
    feat = torch.einsum("ck,khw->chw", basis, torch.randn(3, 24, 24))[None]
    proj = principal_axes(feat, 3)
    assert proj.shape == (1, 16, 3)
    kept = torch.einsum("bchw,bcd->bdhw", feat, proj)
    assert kept.pow(2).sum() == pytest.approx(float(feat.pow(2).sum()), rel=1e-4)


def test_layers_are_normalised_to_the_same_energy():
    a, b = torch.randn(2, 64, 5, 5) * 10, torch.rand(2, 8, 5, 5)
    out = normalised([a, b])
    assert out.shape == (2, 72, 5, 5)
    for part in (out[:, :64], out[:, 64:]):
        np.testing.assert_allclose(part.pow(2).sum(1).mean((1, 2)).numpy(), 1.0, rtol=1e-4)


@pytest.mark.parametrize("h,r", [(24, 17), (22, 17), (23, 17)])
def test_response_grid_is_centred_on_the_feature_grid(h, r):
    """A label at the feature grid's centre lands at the response grid's centre."""
    label = gaussian_labels(torch.tensor([[(h - 1) / 2, (h - 1) / 2]]), torch.tensor([1.0]), h, h)
    grid = to_response_grid(label, r)[0]
    assert grid.shape == (r, r)
    assert divmod(int(torch.argmax(grid)), r) == (r // 2, r // 2)
    np.testing.assert_allclose(grid.numpy(), grid.numpy()[::-1, ::-1], atol=1e-6)


def test_labels_wrap_around_and_follow_the_centres():
    centres = feature_centres(torch.tensor([[0.0, 0.0], [-11.5, 11.5]]), 24)
    labels = gaussian_labels(centres, torch.tensor([1.0, 2.0]), 24, 24)
    assert divmod(int(torch.argmax(labels[0])), 24) in {(11, 11), (11, 12), (12, 11), (12, 12)}
    assert labels[1, 0, 23] == labels[1].max()          # (0, 23): the corner cell
    assert labels[1, 23, 0] > 0.5 * labels[1].max()     # wrapped: close to the other corner


def test_augment_keeps_shape_and_flip_is_a_flip():
    crops = torch.rand(2, 3, 31, 31) * 255
    for args in [(1.0, 0, 0, False), (1.07, 10, 0, False), (1.0, 0, 2.0, False)]:
        out = augment(crops, *args)
        assert out.shape == crops.shape and torch.isfinite(out).all()
    assert torch.equal(augment(crops, 1.0, 0, 0, True), crops.flip(-1))
    assert torch.allclose(augment(crops, 1.0, 0, 0, False), crops)


def test_the_conv_filters_gradient_is_the_adjoint_of_its_response():
    """<f * x, y> = <f, x (*) y> for every target at once (two targets, three maps each)."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 3, 4, 10, 10, generator=gen), torch.randn(2, 3, 10, 10, generator=gen)
    f = torch.randn(2, 4, 5, 5, generator=gen)
    lhs = (conv_response(f, x) * y).sum((1, 2, 3))
    rhs = (f * filter_gradient(x, y, f.shape)).sum((1, 2, 3))
    torch.testing.assert_close(lhs, rhs, rtol=1e-4, atol=1e-3)


def test_conv_fit_solves_the_weighted_ridge_regression():
    """Conjugate-gradient steps reach the normal equations' exact solution (built explicitly
    from the maps' patches); an empty slot (weight 0) changes nothing."""
    gen = torch.Generator().manual_seed(1)
    m, d, h, k = 3, 2, 8, 3
    x, y = torch.randn(1, m, d, h, h, generator=gen), torch.randn(1, m, h, h, generator=gen)
    w = torch.tensor([[0.5, 0.3, 0.2]])
    filt = conv_fit(x, y, w, torch.zeros(1, d, k, k), 0.01, 40)
    patches = torch.nn.functional.unfold(x[0], k, padding=k // 2)          # (m, d*k*k, h*h)
    a = torch.einsum("m,mpi,mqi->pq", w[0], patches, patches)
    b = torch.einsum("m,mpi,mi->p", w[0], patches, y[0].flatten(1))
    lam = 0.01 * float((w[0] * x[0].pow(2).sum((1, 2, 3))).sum())
    exact = torch.linalg.solve(a + lam * torch.eye(len(a)), b)
    torch.testing.assert_close(filt.flatten(), exact, rtol=1e-3, atol=1e-4)
    padded = conv_fit(torch.cat([x, torch.randn(1, 1, d, h, h)], 1),
                      torch.cat([y, torch.randn(1, 1, h, h)], 1),
                      torch.cat([w, torch.zeros(1, 1)], 1), torch.zeros(1, d, k, k), 0.01, 40)
    torch.testing.assert_close(padded, filt, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("shift", [(0, 0), (3, -2), (-4, 4)])
def test_conv_filter_finds_a_pattern_at_a_known_shift(shift):
    """Learned on a pattern on an empty background with its label on it, the filter's response
    on the pattern moved by (dy, dx) cells peaks (dy, dx) cells from where it was."""
    gen = torch.Generator().manual_seed(2)
    pattern = torch.randn(8, 6, 6, generator=gen)

    def scene(dy: int, dx: int) -> torch.Tensor:
        out = torch.zeros(1, 1, 8, 24, 24)
        out[..., 9 + dy:15 + dy, 9 + dx:15 + dx] = pattern
        return out

    label = gaussian_labels(torch.tensor([[11.5, 11.5]]), torch.tensor([1.0]), 24, 24)[:, None]
    filt = conv_fit(scene(0, 0), label, torch.ones(1, 1), torch.zeros(1, 8, 7, 7), 0.01, 60)
    r = conv_response(filt, scene(*shift))[0, 0]
    row, col = divmod(int(torch.argmax(r)), 24)
    assert row - shift[0] in (11, 12) and col - shift[1] in (11, 12)


def test_conv_memory_takes_samples_into_its_least_weighted_slot(small_clip, net):
    """Each confident frame's sample enters with weight online_lr, the others decay by
    1 - online_lr, the memory fills its empty slots first, then replaces its least weighted
    sample, and the weights are renormalised to sum to 1."""
    cfg = TrackerConfig(online_form="conv", online_memory=12, online_min_score=0.0)
    multi = SiamFCMultiTracker(net, cfg, device="cpu", dtype="fp32")
    multi.init(small_clip.frames[0], small_clip.boxes[0])
    w0 = multi.targets.cf_weights.clone()
    assert int((w0 > 0).sum()) == 11 and float(w0.sum()) == pytest.approx(1.0)
    multi.update(small_clip.frames[1])
    w1 = multi.targets.cf_weights
    assert float(w1[0, 11]) == pytest.approx(cfg.online_lr)
    torch.testing.assert_close(w1[0, :11], w0[0, :11] * (1 - cfg.online_lr))
    multi.update(small_clip.frames[2])           # full: the least weighted (the newest) goes
    w2, lr = multi.targets.cf_weights, cfg.online_lr
    assert float(w2.sum()) == pytest.approx(1.0)
    assert float(w2[0, 11]) == pytest.approx(lr / ((1 - lr) ** 2 + lr))


@pytest.fixture(scope="module")
def net():
    return random_net("mobilenetv2")


@pytest.mark.slow
@pytest.mark.parametrize("shallow,form", [(False, "fourier"), (True, "fourier"), (True, "conv")])
def test_batched_targets_equal_single_runs(small_clip, net, shallow, form):
    cfg = TrackerConfig(online=True, online_shallow=shallow, online_form=form, exclusion=False)
    boxes = [small_clip.boxes[0], small_clip.boxes[0] + np.array([30.0, 10.0, 0.0, 0.0])]
    multi = SiamFCMultiTracker(net, cfg, device="cpu", dtype="fp32")
    multi.init(small_clip.frames[0], boxes)
    singles = [SiamFCTracker(net, cfg, device="cpu", dtype="fp32") for _ in boxes]
    for s, b in zip(singles, boxes):
        s.init(small_clip.frames[0], b)
    for frame in small_clip.frames[1:8]:
        together = multi.update(frame)
        for s, r in zip(singles, together):
            alone = s.update(frame)
            np.testing.assert_allclose(alone.box, r.box, atol=1e-3)
            assert alone.score == pytest.approx(r.score, abs=1e-4)


def test_the_switch_turns_the_model_off(small_clip, net):
    """online=False runs no online code; an online model of weight 0 places every box where
    the tracker without one does (its response is the only way it moves a target)."""
    off = SiamFCTracker(net, TrackerConfig(online=False), device="cpu", dtype="fp32")
    silent = SiamFCTracker(net, TrackerConfig(online=True, online_weight=0.0), device="cpu",
                           dtype="fp32")
    assert off._multi.online is None and silent._multi.online is not None
    a = list(off.track(small_clip.frames[:10], small_clip.boxes[0]))
    b = list(silent.track(small_clip.frames[:10], small_clip.boxes[0]))
    assert [r.box for r in a] == [r.box for r in b]
    assert silent._multi.targets.cf_filter.shape[1] > 0 and off._multi.targets.cf_filter.shape[1] == 0


@pytest.mark.parametrize("box_online", [False, True])
def test_the_box_step_uses_the_model_only_with_box_online(small_clip, box_online):
    from .test_box_head import box_net
    cfg = TrackerConfig(box_online=box_online)
    tracker = SiamFCMultiTracker(box_net(head="xcorr-box"), cfg, device="cpu", dtype="fp32")
    assert (tracker.online is not None) == box_online
    tracker.init(small_clip.frames[0], [small_clip.boxes[0], small_clip.boxes[0] + [30, 0, 0, 0]])
    for frame in small_clip.frames[1:4]:
        results = tracker.update(frame)
        assert all(np.isfinite(r.box).all() and 0 <= r.score <= 1 for r in results)
    assert (tracker.targets.cf_filter.shape[1] > 0) == box_online


def test_targets_can_be_added_and_removed_with_the_model_on(small_clip, net):
    multi = SiamFCMultiTracker(net, TrackerConfig(online=True), device="cpu", dtype="fp32")
    multi.init(small_clip.frames[0], small_clip.boxes[0])
    multi.update(small_clip.frames[1])
    new = multi.add(small_clip.frames[1], small_clip.boxes[1] + np.array([40.0, 0, 0, 0]))
    assert len(multi.update(small_clip.frames[2])) == 2
    multi.remove(0)
    (only,) = multi.update(small_clip.frames[3])
    assert only.target_id == new and multi.targets.cf_filter.shape[0] == 1


@pytest.fixture(scope="module")
def texture_ious():
    """Mean IoU on the random-texture clip (a 60x40 patch of uniform noise moving 3 px right
    and 1 px down per frame over uniform noise, 60 frames, 640x360) with the shipped weights:
    without the online model, with it (the default), and with its response weighted 2."""
    clip = make_texture_clip()
    out = {}
    for name, cfg in [("off", TrackerConfig(online=False)), ("default", TrackerConfig()),
                      ("weight 2", TrackerConfig(online_weight=2.0)),
                      ("conv", TrackerConfig(online_form="conv"))]:
        tracker = SiamFCTracker.from_pretrained(config=cfg, device="cpu", dtype="fp32")
        results = list(tracker.track(clip.frames, clip.boxes[0]))[1:]
        out[name] = float(iou_ltwh(np.array([r.box for r in results]), clip.boxes[1:]).mean())
    return out


@pytest.mark.slow
def test_online_model_follows_a_random_texture_patch(texture_ious):
    """The siamese features match the noise's statistics everywhere and lose the patch at once;
    the filter, on the shallow layer too, learns its exact pattern."""
    assert texture_ious["off"] < 0.1
    assert texture_ious["default"] > texture_ious["off"] + 0.3
    assert texture_ious["weight 2"] >= 0.8
    assert texture_ious["conv"] > texture_ious["off"] + 0.3


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="the default (weight 1) reaches 0.45 on this clip; 0.8 "
                                       "needs online_weight=2, which does not win on otb-dev")
def test_default_meets_the_texture_target(texture_ious):
    assert texture_ious["default"] >= 0.8
