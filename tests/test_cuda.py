"""CUDA against the CPU, for the GPU check (tools/gpu_check.sh); skipped without a CUDA device.
GPU crops and fp16 against fp32 are the device-parametrised tests of test_crops.py and
test_fusion.py; these add the whole multi-target tracker and training steps."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tracker import SiamFCMultiTracker
from tracker.diagnostics.synthetic import make_clip
from tracker.training.pairs import PairConfig
from tracker.training.sequences import read_got_style
from tracker.training.trainer import TrainConfig, Trainer

from .test_training import make_got_root

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_multi_target_boxes_on_cuda_match_the_cpu():
    """Four targets of the generated clip, shipped weights, fp32: within a pixel of the CPU's
    boxes on every frame (one grid_sample crop per frame on the GPU, OpenCV warps on the CPU)."""
    clip = make_clip(num_frames=40, size=(640, 360))
    boxes = np.array([clip.boxes[0], [40, 40, 50, 40], [500, 60, 60, 50], [300, 250, 45, 60]])
    trackers = {d: SiamFCMultiTracker.from_pretrained(device=d, dtype="fp32") for d in ("cpu", "cuda")}
    for tracker in trackers.values():
        tracker.init(clip.frames[0], boxes)
    for index, frame in enumerate(clip.frames[1:], start=1):
        cpu, gpu = (trackers[d].update(frame) for d in ("cpu", "cuda"))
        for a, b in zip(cpu, gpu):
            assert np.abs(np.subtract(a.box, b.box)).max() <= 1.0, f"frame {index}"


def test_training_steps_on_cuda_lower_the_loss(tmp_path):
    torch.manual_seed(0)
    seqs, _ = read_got_style(make_got_root(tmp_path / "data"))
    cfg = TrainConfig(epochs=2, pairs_per_epoch=40, batch_size=4, workers=0, lr_start=1e-2,
                      lr_end=1e-3, pairs=PairConfig(neg_prob=0.0, color_jitter=0.0))
    trainer = Trainer(seqs, tmp_path / "run", cfg, device=torch.device("cuda"))
    losses = []
    trainer.train(on_step=lambda i, n, loss: losses.append(loss))
    assert trainer.device.type == "cuda" and len(losses) == 20
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_cuda_graphs_give_the_same_boxes():
    """The backbone replayed from CUDA graphs: the same boxes as launched kernel by kernel,
    one graph per crop shape (exemplar, search batch)."""
    clip = make_clip(num_frames=30, size=(640, 360))
    boxes = np.array([clip.boxes[0], [500, 60, 60, 50]])
    plain = SiamFCMultiTracker.from_pretrained(device="cuda", dtype="fp32")
    graphed = SiamFCMultiTracker.from_pretrained(device="cuda", dtype="fp32", cuda_graphs=True)
    for tracker in (plain, graphed):
        tracker.init(clip.frames[0], boxes)
    for index, frame in enumerate(clip.frames[1:], start=1):
        for a, b in zip(plain.update(frame), graphed.update(frame)):
            assert np.abs(np.subtract(a.box, b.box)).max() <= 1e-3, f"frame {index}"
    assert graphed.model.backbone.captured == 2


def test_pinned_upload_equals_the_frame():
    from tracker.staging import FrameUploader, frame_to_tensor
    up = FrameUploader("cuda")
    assert up.pin
    frames = [np.random.default_rng(i).integers(0, 256, (90, 120, 3), dtype=np.uint8) for i in range(5)]
    outs = [up.upload(f) for f in frames]        # later uploads must not disturb earlier ones
    for f, out in zip(frames, outs):
        assert torch.equal(out.cpu(), frame_to_tensor(f))


def test_box_head_on_cuda_matches_the_cpu():
    """The box head's outputs (classification, quality, box sides) on the GPU equal the CPU's
    for the same crops, and the one-crop tracking step runs there for two targets."""
    from tracker.model.network import SiamNet, init_weights
    torch.manual_seed(0)
    net = SiamNet("alexnet_slim", head="box")
    init_weights(net)
    net.eval()
    z, x = torch.rand(2, 3, 127, 127) * 255, torch.rand(2, 3, 255, 255) * 255
    # cuDNN's TF32 convolutions (on by default) would differ from the CPU by about 1e-3 per layer
    with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        cpu = net.head(net.features(z), net.search_features(x))
        net.cuda()
        gpu = net.head(net.features(z.cuda()), net.search_features(x.cuda()))
    for name in ("cls", "quality", "ltrb"):
        torch.testing.assert_close(getattr(gpu, name).cpu(), getattr(cpu, name), rtol=1e-3, atol=1e-3)
    clip = make_clip(num_frames=5, size=(320, 240))
    tracker = SiamFCMultiTracker(net, device="cuda", dtype="fp32")
    tracker.init(clip.frames[0], [clip.boxes[0], [40, 40, 50, 40]])
    for frame in clip.frames[1:]:
        assert all(np.isfinite(r.box).all() for r in tracker.update(frame))
