import pytest
import torch
import torch.nn.functional as F

from tracker.model.backbones import BACKBONES, build_backbone, register_backbone
from tracker.model.heads import xcorr
from tracker.model.network import SiamNet

from .conftest import random_net


def xcorr_conv(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reference: the cross-correlation as one grouped convolution (the library's before)."""
    n, c = z.shape[:2]
    nk = x.shape[0]
    if nk % n != 0 or x.shape[1] != c:
        raise ValueError(f"search batch {tuple(x.shape)} does not match exemplars {tuple(z.shape)}")
    weight = z.repeat_interleave(nk // n, dim=0)
    out = F.conv2d(x.reshape(1, nk * c, x.shape[2], x.shape[3]), weight, groups=nk)
    return out.reshape(nk, 1, out.shape[2], out.shape[3])


@pytest.fixture(scope="module")
def net():
    return random_net("alexnet")


@pytest.mark.parametrize("size,feat", [(127, 6), (255, 22)])
def test_feature_shapes(net, size, feat):
    with torch.no_grad():
        assert net.features(torch.rand(2, 3, size, size) * 255).shape == (2, 256, feat, feat)


@pytest.mark.parametrize("n,s", [(1, 1), (1, 3), (4, 3), (2, 5)])
def test_response_shape(net, n, s):
    with torch.no_grad():
        out = net(torch.rand(n, 3, 127, 127) * 255, torch.rand(n * s, 3, 255, 255) * 255)
    assert out.shape == (n * s, 1, 17, 17)


@pytest.mark.parametrize("fn", [xcorr_conv, xcorr])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("n,k,hz,hx", [(1, 1, 6, 22), (3, 1, 6, 22), (2, 3, 6, 22), (4, 5, 6, 22),
                                       (2, 3, 4, 9), (1, 3, 6, 31)])
def test_batched_xcorr_equals_loop(fn, channels_last, n, k, hz, hx):
    """Both implementations equal a plain per-pair convolution (float32: 1e-4)."""
    torch.manual_seed(1)
    z = torch.randn(n, 8, hz, hz)
    x = torch.randn(n * k, 8, hx, hx + 2)        # non-square too
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    batched = fn(z, x)
    assert batched.shape == (n * k, 1, hx - hz + 1, hx + 3 - hz)
    for i in range(n * k):
        ref = torch.nn.functional.conv2d(x[i:i + 1], z[i // k:i // k + 1])
        torch.testing.assert_close(batched[i:i + 1], ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fn", [xcorr_conv, xcorr])
def test_xcorr_rejects_mismatch(fn):
    with pytest.raises(ValueError):
        fn(torch.randn(2, 8, 6, 6), torch.randn(3, 8, 22, 22))


def test_gram_xcorr_gradients_equal_the_convolution_ones():
    """Training goes through xcorr: its gradients equal the grouped convolution's."""
    torch.manual_seed(0)
    z = torch.randn(4, 8, 6, 6, requires_grad=True)
    x = torch.randn(4, 8, 22, 22, requires_grad=True)
    w = torch.randn(4, 1, 17, 17)
    ref = torch.autograd.grad((xcorr_conv(z, x) * w).sum(), (z, x))
    got = torch.autograd.grad((xcorr(z, x) * w).sum(), (z, x))
    for a, b in zip(ref, got):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_paper_layer_table(net):
    convs = [m for m in net.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0], c.groups) for c in convs] == [
        (3, 96, 11, 2, 1), (96, 256, 5, 1, 2), (256, 384, 3, 1, 1), (384, 384, 3, 1, 2), (384, 256, 3, 1, 2)]
    assert all(c.padding == (0, 0) for c in convs)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 4


def test_registry():
    assert "alexnet" in BACKBONES
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("resnet9000")

    @register_backbone("tiny-test")
    def tiny():
        return torch.nn.Conv2d(3, 4, 8, 8)

    try:
        assert isinstance(SiamNet("tiny-test").backbone, torch.nn.Conv2d)
    finally:
        BACKBONES.pop("tiny-test")
