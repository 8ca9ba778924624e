"""The optimised inference path equals the reference one (tolerances stated)."""
import pytest
import torch

from tracker.fusion import fold_batchnorm
from tracker.network import SiamNet, init_weights


def trained_like_net(seed: int = 0) -> SiamNet:
    """Random weights with non-trivial BatchNorm statistics (as after training)."""
    torch.manual_seed(seed)
    net = SiamNet()
    init_weights(net)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-2, 2)
            m.running_var.uniform_(0.5, 3)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return net.eval()


@pytest.mark.parametrize("size", [127, 255])
def test_folded_backbone_matches(size, device):
    net = trained_like_net().to(device)
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
