"""The box head (SiamFC++): correlation, targets, losses, the tracking step, training, files."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tracker.config import BOX_PEAKS, TrackerConfig
from tracker.diagnostics.synthetic import make_shape_clip
from tracker.model.fusion import fold_batchnorm
from tracker.geometry import context_size
from tracker.model.heads import BoxHead, BoxOutput, XCorrBoxHead, dwxcorr
from tracker.model.network import BOX_HEADS, SiamNet, init_weights, weights_state
from tracker.model.weights import load_model, weights_dirs
from tracker.siamfc import SiamFCMultiTracker, SiamFCTracker
from tracker.steps.regression import (IDENTITY_CALIBRATION, best_cells, change_penalty,
                                      damped_size, decode_boxes, size_gain)
from tracker.training.boxes import (box_loss, box_targets, cell_positions, fit_slope, ltrb_iou,
                                    shape_fit_sums)

from .test_training import make_got_root


def box_net(backbone: str = "alexnet_slim", seed: int = 0, head: str = "box") -> SiamNet:
    torch.manual_seed(seed)
    net = SiamNet(backbone, head=head)
    init_weights(net)
    return net.eval()


@pytest.mark.parametrize("k", [1, 3])
def test_dwxcorr_is_a_per_channel_correlation(k):
    z, x = torch.randn(2, 5, 4, 4), torch.randn(2 * k, 5, 9, 9)
    out = dwxcorr(z, x)
    assert out.shape == (2 * k, 5, 6, 6)
    for row in range(2 * k):
        for c in range(5):
            ref = F.conv2d(x[row:row + 1, c:c + 1], z[row // k, c].view(1, 1, 4, 4))
            torch.testing.assert_close(out[row, c], ref[0, 0], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="does not match"):
        dwxcorr(z, torch.randn(3, 5, 9, 9))


@pytest.mark.parametrize("head", BOX_HEADS)
@pytest.mark.parametrize("backbone", ["alexnet_slim", "mobilenetv2"])
def test_box_head_shapes_and_folding(backbone, head):
    net = box_net(backbone, head=head)
    for m in net.modules():          # non-trivial BatchNorm statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    z, x = torch.rand(2, 3, 127, 127) * 255, torch.rand(6, 3, 255, 255) * 255
    with torch.no_grad():
        out, folded = net(z, x), fold_batchnorm(net)(z, x)
    assert isinstance(out, BoxOutput) and net.head_kind == head and net.regresses_box
    assert out.cls.shape == out.quality.shape == (6, 1, 17, 17) and out.ltrb.shape == (6, 4, 17, 17)
    assert (out.ltrb > 0).all()
    # the side distances compared as their logarithms (the head's own output); 2e-3: with 2
    # threads on an Intel AMX host the folded xcorr-box response differs by 1.1e-3 of its peak
    for a, b in ((out.cls, folded.cls), (out.quality, folded.quality),
                 (out.ltrb.log(), folded.ltrb.log())):
        assert (a - b).abs().max() <= 2e-3 * a.abs().max() + 1e-4


@pytest.mark.parametrize("box", [(127, 127, 64, 32), (100, 150, 40, 90), (180, 70, 30, 30)])
def test_box_targets_place_the_box_on_the_cells(box):
    t = box_targets(torch.tensor([box, [float("nan")] * 4], dtype=torch.float32))
    cx, cy, w, h = box
    pos = cell_positions(17, 8, 255)
    inside = ((pos[None, :] - cx).abs() <= w / 4) & ((pos[:, None] - cy).abs() <= h / 4)
    assert torch.equal(t.labels[0, 0] > 0, inside)
    assert t.labels[1].sum() == 0                      # a negative pair has no positive cell
    r, c = np.argwhere(inside.numpy())[0]
    px, py = pos[c], pos[r]
    torch.testing.assert_close(t.ltrb[0, :, r, c], torch.tensor(
        [px - (cx - w / 2), py - (cy - h / 2), cx + w / 2 - px, cy + h / 2 - py]))
    # the box decodes back from the targets at every positive cell
    decoded = decode_boxes(t.ltrb[:1], pos)[0].permute(1, 2, 0)[inside]
    torch.testing.assert_close(decoded, torch.tensor([box], dtype=torch.float32).expand_as(decoded))
    assert 0 < t.quality[0, 0][inside].min() and t.quality[0, 0][inside].max() <= 1


def test_box_targets_keep_the_nearest_cell_of_a_small_target():
    t = box_targets(torch.tensor([[130.0, 125.0, 10.0, 10.0]]))
    assert t.labels.sum() == 1 and t.labels[0, 0, 8, 8] == 1


def test_ltrb_iou_and_box_loss():
    a = torch.tensor([[10.0, 10, 10, 10]]).view(1, 4, 1, 1)
    assert ltrb_iou(a, a).item() == pytest.approx(1)
    half = torch.tensor([[10.0, 10, 0, 10]]).view(1, 4, 1, 1) + 1e-9
    assert ltrb_iou(half, a).item() == pytest.approx(0.5)
    targets = box_targets(torch.tensor([[127.0, 127.0, 64.0, 48.0]]))
    logit = torch.logit(targets.quality.clamp(1e-4, 1 - 1e-4))
    perfect = BoxOutput((targets.labels * 2 - 1) * 20, logit, targets.ltrb.clamp(min=1e-3))
    wrong = BoxOutput(perfect.cls, logit, targets.ltrb.clamp(min=1e-3) * 2)
    good, parts = box_loss(perfect, targets)
    bad, bad_parts = box_loss(wrong, targets)
    assert parts["iou"] == pytest.approx(1, abs=1e-5) and bad_parts["iou"] < 0.5
    assert good < bad
    # negatives only: the box terms vanish, the loss stays finite and differentiable
    ltrb = torch.ones(1, 4, 17, 17, requires_grad=True)
    loss, _ = box_loss(BoxOutput(torch.zeros(1, 1, 17, 17), torch.zeros(1, 1, 17, 17), ltrb),
                       box_targets(torch.full((1, 4), float("nan"))))
    loss.backward()
    assert torch.isfinite(loss)


@pytest.mark.parametrize("size_slope,aspect_slope", [(1.0, 1.0), (0.25, 0.7), (0.0, 1.5)])
def test_shape_fit_sums_measure_how_the_head_follows_size_and_shape(size_slope, aspect_slope):
    """Predicted boxes made with known slopes of log size and log aspect on the true ones
    (about a mean size): ``fit_slope`` gives those slopes back."""
    rng = np.random.default_rng(0)
    n = 12
    w, h = rng.uniform(30, 120, n), rng.uniform(30, 120, n)
    size, aspect = 0.5 * np.log(w * h), np.log(w / h)
    ps = size.mean() + size_slope * (size - size.mean())
    pa = aspect_slope * aspect
    pw, ph = np.exp(ps + pa / 2), np.exp(ps - pa / 2)
    boxes = torch.tensor(np.stack([np.full(n, 127.0), np.full(n, 127.0), w, h], 1), dtype=torch.float32)
    targets = box_targets(boxes)
    pred = torch.stack([torch.tensor(v, dtype=torch.float32).view(n, 1, 1).expand(n, 17, 17) / 2
                        for v in (pw, ph, pw, ph)], dim=1)        # a centred box at every cell
    sums = shape_fit_sums(pred, targets)
    assert sums[0, 0] == targets.labels.sum()
    assert fit_slope(sums[0]) == pytest.approx(size_slope, abs=1e-3)
    assert fit_slope(sums[1]) == pytest.approx(aspect_slope, abs=1e-3)


def test_fit_slope_without_spread_and_without_positives():
    assert math.isnan(fit_slope(torch.tensor([4.0, 8.0, 3.0, 16.0, 6.0])))    # t always 2
    assert math.isnan(fit_slope(torch.zeros(5)))
    empty = box_targets(torch.full((2, 4), float("nan")))
    assert torch.equal(shape_fit_sums(torch.ones(2, 4, 17, 17), empty), torch.zeros(2, 5, dtype=torch.float64))


def test_change_penalty_and_selection():
    same = torch.tensor([[127.0, 127, 60, 40]]).view(1, 4, 1, 1).expand(1, 4, 3, 3).clone()
    size = torch.tensor([[60.0, 40]])
    assert torch.allclose(change_penalty(same, size, 0.04), torch.ones(1, 3, 3))
    wider, narrower = same.clone(), same.clone()
    wider[:, 2] *= 1.5
    narrower[:, 2] /= 1.5
    p_w, p_n = change_penalty(wider, size, 0.04), change_penalty(narrower, size, 0.04)
    assert (p_w < 1).all() and (p_n < 1).all()
    assert change_penalty(wider, size, 0.2).max() < p_w.min()      # larger k, larger penalty
    score = torch.zeros(1, 3, 3)
    score[0, 0, 2] = 1.0
    window = torch.zeros(3, 3)
    window[1, 1] = 1.0
    assert best_cells(score, torch.ones(1, 3, 3), window, 0.2).item() == 2
    assert best_cells(score, torch.ones(1, 3, 3), window, 0.6).item() == 4
    torch.testing.assert_close(damped_size(size, size * 2, torch.tensor([0.25])), size * 1.25)


class FixedBoxHead(BoxHead):
    """A box head that predicts one box (cx, cy, w, h search-crop px) at every cell, with the
    cell nearest its centre scored highest."""

    def __init__(self, box):
        super().__init__(128)
        self.box = box

    def forward(self, z, x):
        n = x.shape[0]
        pos = cell_positions(17, 8, 255)
        cx, cy, w, h = self.box
        ltrb = torch.stack(torch.broadcast_tensors(
            pos.view(1, -1) - (cx - w / 2), pos.view(-1, 1) - (cy - h / 2),
            (cx + w / 2) - pos.view(1, -1), (cy + h / 2) - pos.view(-1, 1)))
        d2 = (pos.view(1, -1) - cx) ** 2 + (pos.view(-1, 1) - cy) ** 2
        cls = (6.0 - d2 / 8).expand(n, 1, 17, 17)
        return BoxOutput(cls, torch.full((n, 1, 17, 17), 10.0), ltrb.expand(n, 4, 17, 17))


def test_box_step_moves_to_the_predicted_box_and_damps_its_size():
    """One update with a head that predicts a wider box right of centre: the centre moves
    there (crop px -> frame px), the size moves by box_lr x penalty x score, aspect free."""
    net = box_net()
    net.head = FixedBoxHead((127 + 16, 127, 96, 48))
    cfg = TrackerConfig(box_peak="cell", box_calibration=False)      # SiamFC++'s step
    tracker = SiamFCTracker(net, cfg, device="cpu", dtype="fp32")
    frame = np.zeros((400, 400, 3), np.uint8)
    box = (150.0, 170.0, 60.0, 60.0)                   # centre (179.5, 199.5)
    tracker.init(frame, box)
    to_crop = 255 / (context_size(60, 60, 0.5) * 255 / 127)          # crop px per frame px
    result = tracker.update(frame)
    cx, cy = result.box[0] + (result.box[2] - 1) / 2, result.box[1] + (result.box[3] - 1) / 2
    assert cx == pytest.approx(179.5 + 16 / to_crop, abs=1e-3) and cy == pytest.approx(199.5, abs=1e-3)
    size = torch.tensor([[60.0, 60.0]]) * to_crop
    boxes = decode_boxes(net.head(None, torch.zeros(1)).ltrb, cell_positions(17, 8, 255))
    penalty = change_penalty(boxes, size, cfg.penalty_k)[0, 8, 10].item()
    score = torch.sigmoid(torch.tensor(6.0)).item() * torch.sigmoid(torch.tensor(10.0)).item()
    rate = cfg.box_lr * penalty * score
    assert result.box[2] == pytest.approx(60 * (1 - rate) + 96 / to_crop * rate, rel=1e-4)
    assert result.box[3] == pytest.approx(60 * (1 - rate) + 48 / to_crop * rate, rel=1e-4)
    assert result.box[2] > 60 > result.box[3]          # the aspect ratio is not held fixed


@pytest.mark.slow
@pytest.mark.parametrize("cells", [1, 3])
@pytest.mark.parametrize("head", BOX_HEADS)
def test_box_head_tracker_runs_batched(small_clip, head, cells):
    """Random weights: finite boxes for several targets, re-detection on, and distractors
    refused."""
    net = box_net(head=head)
    multi = SiamFCMultiTracker(net, TrackerConfig(redetect=True, lost_threshold=0.6,
                                                  recover_threshold=0.6, box_cells=cells),
                               device="cpu", dtype="fp32")
    first = small_clip.boxes[0]
    multi.init(small_clip.frames[0], [first, first + np.array([10, 5, 0, 0])])
    for frame in small_clip.frames[1:]:
        results = multi.update(frame)
    for r in results:
        assert np.all(np.isfinite(r.box)) and r.box[2] > 0 and r.box[3] > 0
        assert 0 <= r.score <= 1 and set(r.cues) >= {"peak", "cosine"}
    with pytest.raises(ValueError, match="xcorr head"):
        SiamFCMultiTracker(net, TrackerConfig(distractors=True), device="cpu")


@pytest.mark.parametrize("head", BOX_HEADS)
@pytest.mark.parametrize("dtype", ["fp32", "bf16", "int8"])
def test_box_head_tracks_in_every_cpu_precision(small_clip, dtype, head):
    """The backbone's precision leaves the head in fp32: finite boxes, and the exemplar/search
    feature similarity near the fp32 tracker's (random weights put the peak anywhere, so the
    boxes themselves are not compared)."""
    from tracker.model.quantize import calibrate_network, int8_available
    if dtype == "int8" and not int8_available():
        pytest.skip("no x86 quantized engine in this torch")
    net = box_net(head=head)
    cal = None
    if dtype == "int8":
        cal = calibrate_network(fold_batchnorm(net), [torch.rand(2, 3, s, s) * 255 for s in (127, 255)])
    ref = SiamFCTracker(net, device="cpu", dtype="fp32")
    tracker = SiamFCTracker(net, device="cpu", dtype=dtype, calibration=cal)
    assert tracker.precision == dtype
    for t in (ref, tracker):
        t.init(small_clip.frames[0], small_clip.boxes[0])
    a, b = ref.update(small_clip.frames[1]), tracker.update(small_clip.frames[1])
    assert np.all(np.isfinite(b.box)) and b.box[2] > 0 and b.box[3] > 0
    assert b.cues["cosine"] == pytest.approx(a.cues["cosine"], abs=0.05)


def test_size_gain_is_the_clipped_ratio():
    gain = size_gain(torch.tensor([[20.0, 90.0], [50.0, 50.0]]), torch.tensor([[40.0, 60.0], [1.0, 500.0]]))
    torch.testing.assert_close(gain, torch.tensor([[0.5, 1.5], [3.0, 1 / 3]]))


@pytest.mark.parametrize("peak,cells", [*((p, 1) for p in BOX_PEAKS), ("response", 3)])
@pytest.mark.parametrize("fit", ["none", "gain", "calibration"])
def test_first_frame_fits_make_it_regress_its_known_size(small_clip, fit, peak, cells):
    """Updating on the first frame itself (no penalty, the size set to the box): with ``box_gain`` or
    ``box_calibration`` the head's box for the target is read back as the known size, so the
    size is kept; without either it moves towards the head's own (a 64 px square at every
    cell here, whatever the crop: the calibration's slopes stop at their lower clip)."""
    net = box_net()
    torch.nn.init.zeros_(net.head.box_out.weight)         # every side 32 px from its cell
    torch.nn.init.zeros_(net.head.cls_out.weight)         # every cell scores sigmoid(8)^2
    torch.nn.init.constant_(net.head.cls_out.bias, 8.0)
    cfg = TrackerConfig(box_gain=fit == "gain", box_calibration=fit == "calibration",
                        box_peak=peak, box_cells=cells, penalty_k=0.0, box_lr=1.0)
    tracker = SiamFCMultiTracker(net, cfg, device="cpu", dtype="fp32")
    first = np.asarray(small_clip.boxes[0], dtype=float)
    tracker.init(small_clip.frames[0], [first])
    lines = tracker.targets.box_cal[0]
    assert (fit != "none") == (not np.allclose(lines, IDENTITY_CALIBRATION))
    if fit == "calibration":
        np.testing.assert_allclose(lines[[1, 3]], 0.3)
    size = np.array(tracker.update(small_clip.frames[0])[0].box[2:])
    if fit == "none":
        assert np.abs(size - first[2:]).max() > 0.5
    else:
        np.testing.assert_allclose(size, first[2:], rtol=1e-3)


def test_response_peak_places_the_target_as_the_siamfc_step_does(small_clip):
    """``box_peak="response"``: the first update's centre is the one the cross-correlation
    tracker with one scale finds on the same classification map (upsampled, windowed)."""
    box = box_net(head="xcorr-box", seed=3)
    xcorr = SiamNet("alexnet_slim", head="xcorr").eval()
    xcorr.backbone.load_state_dict(box.backbone.state_dict())
    xcorr.head.load_state_dict(box.head.xcorr.state_dict())
    trackers = [SiamFCTracker(box, TrackerConfig(box_peak="response", online=False), device="cpu",
                              dtype="fp32"),
                SiamFCTracker(xcorr, TrackerConfig(num_scales=1, online=False), device="cpu",
                              dtype="fp32")]
    centres = []
    for tracker in trackers:
        tracker.init(small_clip.frames[0], small_clip.boxes[0])
        x, y, w, h = tracker.update(small_clip.frames[1]).box
        centres.append((x + w / 2, y + h / 2))
    assert centres[0] != pytest.approx((small_clip.boxes[0][0] + small_clip.boxes[0][2] / 2,
                                        small_clip.boxes[0][1] + small_clip.boxes[0][3] / 2))
    np.testing.assert_allclose(centres[0], centres[1], atol=1e-3)


@pytest.mark.parametrize("head", BOX_HEADS)
def test_box_head_weights_file_round_trip(tmp_path, head):
    net = box_net(head=head)
    torch.save(weights_state(net), tmp_path / "box.pth")
    loaded = load_model(tmp_path / "box.pth")
    assert loaded.head_kind == head and loaded.backbone_name == "alexnet_slim"
    for k, v in net.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)


@pytest.mark.slow
def test_short_box_training_lowers_loss_and_starts_from_weights(tmp_path):
    from tracker.training.pairs import BOX_PAIRS, PairConfig
    from tracker.training.sequences import read_got_style
    from tracker.training.trainer import TrainConfig, Trainer
    seqs, _ = read_got_style(make_got_root(tmp_path / "data"))
    start = tmp_path / "start.pth"
    torch.save(weights_state(box_net().cpu()), start)   # any weights of the same backbone
    cfg = TrainConfig(epochs=1, pairs_per_epoch=48, batch_size=4, workers=0, backbone="alexnet_slim",
                      head="box", start_from=str(start), lr_start=1e-2, lr_end=1e-3, amp="off",
                      pairs=PairConfig(**{**BOX_PAIRS, "neg_prob": 0.0, "color_jitter": 0.0}))
    trainer = Trainer(seqs, tmp_path / "run", cfg)
    source = load_model(start).state_dict()
    for k, v in trainer.model.state_dict().items():    # a box head's file: its head too
        if k.startswith(("backbone.", "head.")):
            torch.testing.assert_close(v, source[k])
    losses = []
    rows = trainer.train(on_step=lambda i, n, loss: losses.append(loss))
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert 0 < rows[0]["box_iou"] <= 1
    assert load_model(tmp_path / "run" / "epoch_001.pth").head_kind == "box"
    plain = tmp_path / "plain.pth"           # an xcorr file: the backbone only
    torch.save(weights_state(SiamNet("alexnet_slim").eval()), plain)
    fresh = Trainer(seqs, tmp_path / "run3", TrainConfig(backbone="alexnet_slim", head="box",
                                                         start_from=str(plain), seed=5))
    assert not torch.equal(fresh.model.state_dict()["head.cls_tower.0.weight"],
                           source["head.cls_tower.0.weight"])
    other = tmp_path / "other.pth"
    torch.save(weights_state(box_net("alexnet")), other)
    with pytest.raises(ValueError, match="other.pth: its backbone does not fit"):
        Trainer(seqs, tmp_path / "run2", TrainConfig(backbone="alexnet_slim", head="box",
                                                     start_from=str(other)))
    with pytest.raises(ValueError, match="own losses"):
        TrainConfig(head="box", loss="triplet")


@pytest.mark.slow
def test_xcorr_box_head_starts_from_xcorr_weights_and_keeps_their_response(tmp_path):
    """--head xcorr-box --start-from an xcorr file: backbone and response (its bias) copied, so
    the classification map is that file's response exactly; the box branch trains."""
    from tracker.training.pairs import BOX_PAIRS, PairConfig
    from tracker.training.sequences import read_got_style
    from tracker.training.trainer import TrainConfig, Trainer
    seqs, _ = read_got_style(make_got_root(tmp_path / "data"))
    torch.manual_seed(3)
    xnet = SiamNet("mobilenetv2")                       # has the paper's bias b
    init_weights(xnet)
    with torch.no_grad():
        xnet.head.bias.fill_(-1.5)
    torch.save(weights_state(xnet.eval()), tmp_path / "xcorr.pth")
    cfg = TrainConfig(epochs=1, pairs_per_epoch=24, batch_size=4, workers=0, backbone="mobilenetv2",
                      head="xcorr-box", start_from=str(tmp_path / "xcorr.pth"), train_stages=0,
                      lr_start=1e-2, lr_end=1e-3,
                      pairs=PairConfig(**{**BOX_PAIRS, "neg_prob": 0.0, "color_jitter": 0.0}))
    trainer = Trainer(seqs, tmp_path / "run", cfg)
    net = trainer.model.eval()
    assert isinstance(net.head, XCorrBoxHead) and net.head.xcorr.bias.item() == -1.5
    z, x = torch.rand(1, 3, 127, 127) * 255, torch.rand(2, 3, 255, 255) * 255
    z, x = (t.contiguous(memory_format=torch.channels_last) for t in (z, x))
    with torch.no_grad():
        torch.testing.assert_close(net(z, x).cls, xnet(z, x), rtol=1e-4, atol=1e-4)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rows = trainer.train()
    after = trainer.model.state_dict()
    assert 0 < rows[0]["box_iou"] <= 1
    assert math.isfinite(rows[0]["box_size_slope"]) and math.isfinite(rows[0]["box_aspect_slope"])
    assert not torch.equal(after["head.box_tower.0.weight"], before["head.box_tower.0.weight"])
    # train_stages 0: the response stays the file's (weights and BatchNorm statistics)
    frozen = [k for k in before if k.startswith(("backbone.", "head.xcorr."))]
    assert "backbone.adjust.1.running_mean" in frozen and "head.xcorr.bias" in frozen
    assert all(torch.equal(after[k], before[k]) for k in frozen)
    assert load_model(tmp_path / "run" / "epoch_001.pth").head_kind == "xcorr-box"


def test_xcorr_box_response_is_frozen_until_a_stage_tunes(tmp_path):
    """set_trainable per epoch: before unfreeze_epoch only the box branch trains; from it the
    last stage, the adjust layer and the xcorr bias train too; the fixed input normalisation
    never does."""
    from tracker.training.trainer import TrainConfig, set_trainable
    torch.save(weights_state(SiamNet("mobilenetv2").eval()), tmp_path / "xcorr.pth")
    cfg = TrainConfig(backbone="mobilenetv2", head="xcorr-box", start_from=str(tmp_path / "xcorr.pth"),
                      train_stages=1, unfreeze_epoch=1)
    net = SiamNet("mobilenetv2", head="xcorr-box")

    def trains(module: torch.nn.Module) -> bool:
        return any(q.requires_grad for q in module.parameters())

    stages = net.backbone.pretrained_modules()
    set_trainable(net, cfg, 0)
    assert trains(net.head.box_tower) and not trains(net.head.xcorr)
    assert not trains(net.backbone.adjust) and not any(trains(m) for m in stages)
    set_trainable(net, cfg, 1)
    assert trains(net.head.xcorr) and trains(net.backbone.adjust) and trains(stages[-1])
    assert not trains(stages[-2]) and not trains(net.backbone.normalize)


def test_shape_clip_turns_from_square_to_one_by_three():
    clip = make_shape_clip(num_frames=60)
    first, last = clip.boxes[0], clip.boxes[-1]
    assert first[3] / first[2] == pytest.approx(1, abs=0.05)
    assert last[3] / last[2] == pytest.approx(3, abs=0.1)
    assert first[2] * first[3] == pytest.approx(last[2] * last[3], rel=0.05)


BOX_WEIGHTS = weights_dirs()[0] / "siamfc_mobilenetv2_box.pth"


@pytest.fixture(scope="module")
def shape_runs():
    """The shape clip (1:1 -> 1:3 over 60 frames) and the last boxes (x, y, w, h) of the shipped
    box head and of the default (xcorr, 3 scales) on it, fp32."""
    clip = make_shape_clip(num_frames=60)
    last = {}
    for name, path in (("box", BOX_WEIGHTS), ("xcorr", weights_dirs()[0] / "siamfc_mobilenetv2.pth")):
        tracker = SiamFCTracker.from_pretrained(path, device="cpu", dtype="fp32")
        last[name] = np.array([r.box for r in tracker.track(clip.frames, clip.boxes[0])])[-1]
    return clip, last


needs_box_weights = pytest.mark.skipif(not BOX_WEIGHTS.is_file(),
                                       reason="no box-head weights in this checkout")


@needs_box_weights
@pytest.mark.slow
def test_shipped_box_head_follows_a_change_of_shape(shape_runs):
    """The box head stretches its box with the object (last h / w at least 1.4 where the
    object's is 3 and the default's box keeps the first frame's 1) and overlaps the last frame's
    object better than the default's fixed-ratio box."""
    from tracker.geometry import iou_ltwh
    clip, last = shape_runs
    assert last["box"][3] / last["box"][2] >= 1.4
    assert abs(last["xcorr"][3] / last["xcorr"][2] - 1) < 1e-6
    ious = {k: iou_ltwh(b[None], clip.boxes[-1:])[0] for k, b in last.items()}
    assert ious["box"] > ious["xcorr"] + 0.05


@needs_box_weights
@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="#22's target, not met by the shipped file: last-frame IoU "
                                       "0.49 (weights/README.md); passing means the docs need the "
                                       "new figure")
def test_shipped_box_head_meets_the_shape_target(shape_runs):
    """#22's target: last-frame IoU >= 0.6 on the shape clip (an ideal box of the first frame's
    ratio reaches about 0.58)."""
    from tracker.geometry import iou_ltwh
    clip, last = shape_runs
    assert iou_ltwh(last["box"][None], clip.boxes[-1:])[0] >= 0.6
