"""Pseudo-siamese networks (``branches="separate"``): the search crop's own backbone through
weights files, the tracker, BatchNorm folding, int8 and training."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tracker import SiamFCMultiTracker
from tracker.model.fusion import fold_batchnorm
from tracker.model.network import SiamNet, branches_of, init_weights, weights_state
from tracker.model.quantize import (SEARCH_PREFIX, calibrate_network, int8_available,
                                    split_calibration)
from tracker.model.weights import load_model
from tracker.training.pairs import PairConfig
from tracker.training.sequences import read_got_style
from tracker.training.trainer import TrainConfig, Trainer

from .test_training import make_got_root

NET = "alexnet_slim"     # small and quick; the branch logic does not depend on the backbone


def separate_net(seed: int = 0, equal: bool = False) -> SiamNet:
    torch.manual_seed(seed)
    net = SiamNet(NET, branches="separate")
    init_weights(net)
    if equal:
        net.copy_exemplar_branch()
    return net.eval()


def test_the_search_crop_goes_through_its_own_branch():
    net = separate_net()
    z, x = torch.rand(1, 3, 127, 127) * 255, torch.rand(3, 3, 255, 255) * 255
    with torch.no_grad():
        before = net(z, x)
        exemplar = net.features(z)
        for p in net.search_backbone.parameters():
            p.mul_(1.5)
        after = net(z, x)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(net.features(z), exemplar)          # phi untouched
    assert len(net.backbones()) == 2 and len(SiamNet(NET).backbones()) == 1
    with pytest.raises(ValueError, match="branches"):
        SiamNet(NET, branches="triple")


def test_weights_file_says_which_it_is(tmp_path):
    net = separate_net()
    state = weights_state(net)
    assert branches_of(state) == "separate" and branches_of(SiamNet(NET).state_dict()) == "shared"
    torch.save(state, tmp_path / "w.pth")
    loaded = load_model(tmp_path / "w.pth")
    assert loaded.branches == "separate" and loaded.backbone_name == NET
    for k, v in net.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)


def test_equal_branches_track_like_the_shared_network(small_clip):
    """With psi = phi the pseudo-siamese tracker is the siamese one: same boxes, every frame."""
    net = separate_net(equal=True)
    shared = SiamNet(NET)
    shared.load_state_dict({k: v for k, v in net.state_dict().items()
                            if not k.startswith("search_backbone.")})
    a = SiamFCMultiTracker(net, device="cpu", dtype="fp32")
    b = SiamFCMultiTracker(shared.eval(), device="cpu", dtype="fp32")
    for t in (a, b):
        t.init(small_clip.frames[0], [small_clip.boxes[0]])
    for frame in small_clip.frames[1:]:
        np.testing.assert_allclose(a.update(frame)[0].box, b.update(frame)[0].box, atol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in a.model.modules())   # folded


@pytest.mark.skipif(not int8_available(), reason="no x86 quantized engine in this torch")
def test_int8_calibrates_each_branch_on_its_own_crops(small_clip):
    net = separate_net()
    folded = fold_batchnorm(net)
    batches = [torch.rand(2, 3, s, s) * 255 for s in (127, 255, 127, 255)]
    cal = calibrate_network(folded, batches)
    exemplar, search = split_calibration(cal)
    assert search is not None and any(k.startswith(SEARCH_PREFIX) for k in cal)
    assert set(exemplar) == {k[len(SEARCH_PREFIX):] for k in cal if k.startswith(SEARCH_PREFIX)}
    tracker = SiamFCMultiTracker(net, device="cpu", dtype="int8", calibration=cal)
    assert tracker.precision == "int8"
    tracker.init(small_clip.frames[0], [small_clip.boxes[0]])
    assert np.isfinite(tracker.update(small_clip.frames[1])[0].box).all()
    with pytest.raises(ValueError, match="no search branch"):
        SiamFCMultiTracker(net, device="cpu", dtype="int8", calibration=exemplar)


def test_training_separate_branches_start_equal_and_drift_apart(tmp_path):
    torch.manual_seed(0)
    seqs, _ = read_got_style(make_got_root(tmp_path / "data"))
    cfg = TrainConfig(epochs=1, pairs_per_epoch=16, batch_size=4, workers=0, backbone=NET,
                      branches="separate", pairs=PairConfig(neg_prob=0.0, color_jitter=0.0))
    trainer = Trainer(seqs, tmp_path / "run", cfg)
    model = trainer.model
    start = [(a.clone(), b.clone()) for a, b in zip(model.backbone.parameters(),
                                                   model.search_backbone.parameters())]
    assert all(torch.equal(a, b) for a, b in start)
    trainer.train()
    assert any(not torch.equal(a, b) for a, b in zip(model.backbone.parameters(),
                                                     model.search_backbone.parameters()))
    assert load_model(tmp_path / "run" / "epoch_001.pth").branches == "separate"
