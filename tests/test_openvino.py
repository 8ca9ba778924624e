"""The backbone's runtime (``model/openvino.py``, ``model.runtime.pick_runtime``): OpenVINO's
features equal torch's within the stated tolerance, the tracker's boxes with it, and the
choice of runtime (asked, refused, measured and cached)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tracker import SiamFCMultiTracker, TrackerConfig
from tracker.diagnostics.synthetic import make_clip
from tracker.geometry import iou_ltwh
from tracker.model import timing
from tracker.model.backbones.registry import build_backbone
from tracker.model.fusion import fold_batchnorm
from tracker.model.openvino import openvino_available
from tracker.model.runtime import cpu_info, pick_runtime

from .conftest import random_net

needs_openvino = pytest.mark.skipif(not openvino_available(),
                                    reason='needs openvino (pip install "siamfc[openvino]")')
CPU = torch.device("cpu")


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@needs_openvino
@pytest.mark.parametrize("name", ["mobilenetv2_s16", "alexnet_slim"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_openvino_features_equal_torch_within_tolerance(name, precision):
    from tracker.model.openvino import OpenVINOBackbone
    if precision == "bf16" and not cpu_info().bf16:
        pytest.skip("bf16 needs a CPU with AVX-512 BF16 or AMX")
    torch.manual_seed(0)
    net = fold_batchnorm(build_backbone(name).eval())
    ov = OpenVINOBackbone(net, precision)
    tolerance = 1e-4 if precision == "fp32" else 5e-2
    with torch.inference_mode():
        for batch, side in ((1, 127), (3, 255), (2, 255)):      # any batch and size, one model
            x = torch.rand(batch, 3, side, side) * 255
            assert relative(ov(x), net(x)) < tolerance
        if hasattr(net, "forward_layers"):
            for got, want in zip(ov.forward_layers(x), net.forward_layers(x)):
                assert got.shape == want.shape and relative(got, want) < tolerance


@needs_openvino
def test_tracker_in_openvino_follows_torch():
    """fp32 in OpenVINO: the same boxes as torch's within a tenth of a pixel's worth of IoU, with
    the online model reading the shallow layer from OpenVINO too."""
    clip = make_clip(num_frames=15, size=(320, 240), seed=3)
    boxes = {}
    for runtime in ("torch", "openvino"):
        tracker = SiamFCMultiTracker(random_net("mobilenetv2_s16"), TrackerConfig(), device="cpu",
                                     dtype="fp32", runtime=runtime)
        assert tracker.runtime == runtime and tracker.features.has_shallow
        tracker.init(clip.frames[0], clip.boxes[:1])
        boxes[runtime] = np.array([tracker.update(f)[0].box for f in clip.frames[1:]])
    assert iou_ltwh(boxes["openvino"], boxes["torch"]).min() > 0.99


def test_runtime_choices_and_refusals(monkeypatch):
    net = build_backbone("alexnet_slim")
    assert pick_runtime("torch", CPU, "int8", net) == "torch"
    with pytest.raises(ValueError, match="runtime must be one of"):
        pick_runtime("onnx", CPU, "fp32", net)
    with pytest.raises(ValueError, match="fp32 or bf16 on the CPU"):
        pick_runtime("openvino", CPU, "int8", net)
    # auto: torch by the rule (the tests' setting), and where OpenVINO is absent
    assert pick_runtime("auto", CPU, "fp32", net) == "torch"
    monkeypatch.setattr("tracker.model.openvino.openvino_available", lambda: False)
    with pytest.raises(ValueError, match="needs the openvino package"):
        pick_runtime("openvino", CPU, "fp32", net)
    monkeypatch.setenv(timing.MODE_VARIABLE, "time")
    assert pick_runtime("auto", CPU, "fp32", net) == "torch"


@needs_openvino
@pytest.mark.parametrize("seconds, choice", [({"torch": 1.0, "openvino": 0.5}, "openvino"),
                                             ({"torch": 1.0, "openvino": 0.97}, "torch")])
def test_auto_runtime_is_measured_once_and_cached(tmp_path, monkeypatch, seconds, choice):
    monkeypatch.setenv("SIAMFC_CACHE_DIR", str(tmp_path))
    calls = []

    def measure(*args):
        calls.append(args)
        return seconds

    net = build_backbone("alexnet_slim")
    for _ in range(2):
        assert timing.faster_runtime(net, "fp32", "test CPU", measure_fn=measure) == choice
    assert len(calls) == 1 and (tmp_path / timing.CACHE_FILE).is_file()
