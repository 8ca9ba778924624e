"""Frame upload bookkeeping and the CUDA-graph option, on the CPU (their CUDA runs are in
test_cuda.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tracker import SiamFCMultiTracker
from tracker.crops import FrameCrops
from tracker.model.graphs import GraphedBackbone
from tracker.model.network import SiamNet
from tracker.staging import FrameUploader, frame_to_tensor


def frames(n: int, shape=(48, 64, 3)) -> list[np.ndarray]:
    return [np.random.default_rng(i).integers(0, 256, shape, dtype=np.uint8) for i in range(n)]


def test_cpu_upload_is_the_frame_as_float():
    f = frames(1)[0]
    assert torch.equal(FrameUploader("cpu").upload(f), frame_to_tensor(f))


@pytest.mark.parametrize("slots", [1, 2, 3])
def test_buffers_rotate_and_follow_the_frame_shape(slots):
    """On a device without pinned memory ("meta": shapes only) the same rotation runs: one
    host buffer per slot, reused round robin, replaced when the frame size changes."""
    up = FrameUploader("meta", slots=slots, pin=False)
    seen = []
    for f in frames(2 * slots):
        out = up.upload(f)
        assert out.shape == (1, 3, 48, 64) and out.dtype == torch.float32
        seen.append(up._buffers[(up._next - 1) % slots].data_ptr())
    assert len(set(seen)) == slots and seen[:slots] == seen[slots:]
    up.upload(frames(1, (20, 30, 3))[0])
    assert up._buffers[(up._next - 1) % slots].shape == (20, 30, 3)
    assert up.uploads == 2 * slots + 1


def test_frame_crops_take_the_uploader():
    f = frames(1, (120, 160, 3))[0]
    up = FrameUploader("meta", pin=False)
    crops = FrameCrops(f, "meta", up)(np.array([[80.0, 60.0]]), np.array([50.0]), 31)
    assert crops.shape == (1, 3, 31, 31) and up.uploads == 1
    with pytest.raises(ValueError, match="slots"):
        FrameUploader("cpu", slots=0)


def test_cuda_graphs_are_refused_off_cuda():
    with pytest.raises(ValueError, match="CUDA graphs need"):
        GraphedBackbone(SiamNet("alexnet_slim").backbone)
    with pytest.raises(ValueError, match="cuda-graphs"):
        SiamFCMultiTracker(SiamNet("alexnet_slim"), device="cpu", dtype="fp32", cuda_graphs=True)
