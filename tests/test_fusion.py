"""The optimised inference path equals the reference one (tolerances stated)."""
import numpy as np
import pytest
import torch

from tracker.model.backbones import BACKBONES
from tracker.model.fusion import fold_batchnorm
from tracker.model.network import SiamNet, init_weights


def trained_like_net(seed: int = 0, backbone: str = "alexnet") -> SiamNet:
    """Random weights with non-trivial BatchNorm statistics (as after training)."""
    torch.manual_seed(seed)
    net = SiamNet(backbone)
    init_weights(net)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-2, 2)
            m.running_var.uniform_(0.5, 3)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return net.eval()


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
@pytest.mark.parametrize("size", [127, 255])
def test_folded_backbone_matches(size, backbone, device):
    net = trained_like_net(backbone=backbone).to(device)
    folded = fold_batchnorm(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(2, 3, size, size, device=device) * 255
    with torch.no_grad():
        ref, got = net.features(x), folded.features(x.contiguous(memory_format=torch.channels_last))
    # float32 re-association: relative error below 1e-4 of the feature scale
    assert (ref - got).abs().max().item() <= 1e-4 * ref.abs().max().item() + 1e-5


def test_fold_leaves_original_untouched():
    net = trained_like_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fold_batchnorm(net)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_low_precision_tracker_follows_the_fp32_one(device, small_clip):
    """bf16 (CPU) / fp16 (CUDA) backbone: response maps (fp32 cross-correlation of the
    low-precision features) within 5% of their range of the fp32 ones, and boxes overlapping
    the fp32 tracker's (IoU >= 0.8 on each of the first 3 frames)."""
    from tracker.geometry import iou_ltwh
    from tracker.model.runtime import DTYPES
    from tracker.siamfc import SiamFCTracker
    dtype = "fp16" if device == "cuda" else "bf16"
    ref = SiamFCTracker.from_pretrained(device=device, dtype="fp32")
    low = SiamFCTracker.from_pretrained(device=device, dtype=dtype)
    # crops of the clip's first frame about its target (noise crops give flat responses whose
    # small range says little about the precision)
    from tracker.crops import crop_batch
    from tracker.staging import frame_to_tensor
    frame = frame_to_tensor(small_clip.frames[0], device)
    x0, y0, w0, h0 = small_clip.boxes[0]
    centre = torch.tensor([[x0 + w0 / 2, y0 + h0 / 2]] * 2, dtype=torch.float64)
    side = float(np.sqrt((w0 + (w0 + h0) / 2) * (h0 + (w0 + h0) / 2)))
    z = crop_batch(frame, centre, torch.tensor([side, side * 1.1]), 127)
    x = crop_batch(frame, centre + torch.tensor([[0.0, 0.0], [8.0, -6.0]], dtype=torch.float64),
                   torch.tensor([2 * side, 2.2 * side]), 255)
    with torch.no_grad():
        r32 = ref._multi.model(z, x)
        net = low._multi.model
        r16 = net.head(net.features(z.to(DTYPES[dtype])).float(), net.features(x.to(DTYPES[dtype])).float())
    assert (r32 - r16).abs().max().item() <= 0.05 * (r32.max() - r32.min()).item()
    # a few frames: bf16 is emulated (slow) on CPUs without AVX-512 BF16
    frames = small_clip.frames[:3]
    boxes = [np.array([r.box for r in t.track(frames, small_clip.boxes[0])]) for t in (ref, low)]
    assert iou_ltwh(boxes[0], boxes[1]).min() >= 0.8


@pytest.mark.parametrize("dtype,device", [("fp16", "cpu"), ("int4", "cpu")])
def test_bad_dtype(dtype, device):
    from tracker.siamfc import SiamFCTracker
    with pytest.raises(ValueError, match="dtype|fp16"):
        SiamFCTracker.from_pretrained(device=device, dtype=dtype)


def test_int8_needs_cpu_and_calibration():
    from tracker.model.runtime import resolve_dtype
    from tracker.siamfc import SiamFCTracker
    with pytest.raises(ValueError, match="CPU only"):
        resolve_dtype("int8", torch.device("cuda"))
    with pytest.raises(ValueError, match="calibration"):
        SiamFCTracker(trained_like_net(), device="cpu", dtype="int8")


@pytest.mark.parametrize("n_in,n_out", [(17, 272), (15, 240), (5, 7), (17, 17)])
def test_bicubic_matrix_equals_interpolate(n_in, n_out):
    """Upsampling by two matrix products equals F.interpolate(bicubic) (float32: 1e-5 of range)."""
    from tracker.steps.response import bicubic_matrix
    r = torch.randn(6, 1, n_in, n_in)
    ref = torch.nn.functional.interpolate(r, size=(n_out, n_out), mode="bicubic", align_corners=False)
    a = bicubic_matrix(n_in, n_out)
    got = a @ r[:, 0] @ a.t()
    assert (got - ref[:, 0]).abs().max().item() <= 1e-5 * (ref.max() - ref.min()).item()
