"""The backbone's runtime (``model/openvino.py``, ``model.runtime.pick_runtime``): OpenVINO's
features equal torch's within the stated tolerance, the tracker's boxes with it, and the
choice of runtime (asked, refused, measured and cached)."""
from __future__ import annotations

import importlib.util

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
from tracker.model.quantize import (FINGERPRINT_KEY, load_calibration, openvino_network,
                                    split_calibration, weights_fingerprint, with_openvino_network)
from tracker.model.runtime import CPUInfo, cpu_info, pick_precision, pick_runtime

from .conftest import random_net

needs_openvino = pytest.mark.skipif(not openvino_available(),
                                    reason='needs openvino (pip install "siamfc[openvino]")')
needs_nncf = pytest.mark.skipif(not (importlib.util.find_spec("nncf") and openvino_available()),
                                reason='needs nncf (pip install "siamfc[openvino-quantize]")')
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
def test_openvino_outputs_are_the_calls_own():
    """The request reads the crops in place and reuses its buffers: each call's outputs are
    copies, unchanged by the next call (another batch and size) or by changing its input after
    it, and equal to the plain ``infer(inputs)`` call's."""
    from tracker.model.openvino import OpenVINOBackbone
    torch.manual_seed(1)
    ov = OpenVINOBackbone(fold_batchnorm(build_backbone("mobilenetv2_s16").eval()))
    x = torch.rand(2, 3, 255, 255) * 255
    first = ov.forward_layers(x)
    kept = [f.clone() for f in first]
    ov.forward_layers(torch.rand(1, 3, 127, 127) * 255)
    x.zero_()
    for got, want in zip(first, kept):
        assert torch.equal(got, want)
    x = torch.rand(2, 3, 255, 255) * 255
    plain = ov._compile().infer([x.permute(0, 2, 3, 1).numpy().copy()])   # its own request, NHWC
    for i, got in enumerate(ov.forward_layers(x)):
        assert np.array_equal(got.numpy(), np.asarray(plain[i]))


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
    with pytest.raises(ValueError, match="siamfc quantize --openvino"):
        pick_runtime("openvino", CPU, "int8", net)        # int8 without its network
    with pytest.raises(ValueError, match="fp32, bf16 or int8 on the CPU"):
        pick_runtime("openvino", torch.device("cuda"), "fp16", net)
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


@pytest.fixture(scope="module")
def int8_network():
    """A random stride-16 network (folded) and its OpenVINO int8 network, quantized on random
    exemplar and search crops."""
    from tracker.model.openvino import quantize_network
    torch.manual_seed(0)
    net = fold_batchnorm(build_backbone("mobilenetv2_s16").eval())
    crops = [torch.rand(4, 3, 127, 127) * 255, torch.rand(4, 3, 255, 255) * 255]
    return net, quantize_network(net, crops)


@needs_nncf
def test_int8_network_runs_close_to_fp32_with_both_layers(int8_network):
    from tracker.model.openvino import OpenVINOBackbone
    net, network = int8_network
    xml, weights = network
    assert xml.startswith(b"<?xml") and len(weights) > 0
    ov = OpenVINOBackbone(net, "int8", network)
    with torch.inference_mode():
        for batch, side in ((1, 127), (2, 255)):
            x = torch.rand(batch, 3, side, side) * 255
            got, want = ov.forward_layers(x), net.forward_layers(x)
            assert len(got) == 2
            for g, w in zip(got, want):
                assert g.shape == w.shape and relative(g, w) < 0.35


@needs_nncf
def test_the_calibration_file_carries_the_network(int8_network, tmp_path):
    net, network = int8_network
    calibration = with_openvino_network({FINGERPRINT_KEY: weights_fingerprint(net),
                                         "quant.x": torch.ones(1)}, network)
    torch.save(calibration, tmp_path / "w.int8.pth")
    loaded = load_calibration(tmp_path / "w.int8.pth")                    # weights_only
    assert openvino_network(loaded) == network
    exemplar, search = split_calibration(loaded)      # torch's int8 never sees the network
    assert set(exemplar) == {FINGERPRINT_KEY, "quant.x"} and search is None
    assert openvino_network({"quant.x": torch.ones(1)}) is None


def test_int8_runtime_choices(monkeypatch):
    """int8 in OpenVINO only with the network; auto takes it there (torch by the rule)."""
    net, network = build_backbone("mobilenetv2_s16"), (b"<xml/>", b"\0")
    with pytest.raises(ValueError, match="siamfc quantize --openvino"):
        pick_runtime("openvino", CPU, "int8", net, network=None)
    assert pick_runtime("auto", CPU, "int8", net, network=network) == "torch"        # the rule
    monkeypatch.setenv(timing.MODE_VARIABLE, "time")
    monkeypatch.setattr("tracker.model.openvino.openvino_available", lambda: True)
    assert pick_runtime("openvino", CPU, "int8", net, network=network) == "openvino"
    assert pick_runtime("auto", CPU, "int8", net, network=network) == "openvino"
    assert pick_runtime("auto", CPU, "int8", net, network=None) == "torch"


@pytest.mark.parametrize("network, runtime, available, timed, expected", [
    (True, "auto", True, ["int8 network"], "int8"),
    (True, "openvino", True, ["int8 network"], "int8"),
    (True, "torch", True, [], "fp32"), (True, "auto", False, [], "fp32"),
    (False, "auto", True, ["torch int8"], "fp32")])
def test_auto_precision_runs_a_network_made_for_openvino_there_only(
        monkeypatch, network, runtime, available, timed, expected):
    """A calibration carrying the OpenVINO network: auto times that network where OpenVINO can
    run it, else stays fp32 (torch's int8 of such weights only when asked); a calibration
    without one: torch's int8 is timed as before."""
    from tracker.model import runtime as runtime_mod
    net = fold_batchnorm(build_backbone("mobilenetv2_s16").eval())
    calibration = {FINGERPRINT_KEY: weights_fingerprint(net)}
    monkeypatch.setattr(runtime_mod, "cpu_info",
                        lambda: CPUInfo("test CPU", "AVX2", True, False, False))
    monkeypatch.setattr(runtime_mod, "int8_pays", lambda info=None: True)
    monkeypatch.setattr("tracker.model.openvino.openvino_available", lambda: available)
    monkeypatch.setenv(timing.MODE_VARIABLE, "time")
    asked = []
    monkeypatch.setattr(timing, "faster_openvino_int8",
                        lambda *a, **k: asked.append("int8 network") or "int8")
    monkeypatch.setattr(timing, "faster_precision",
                        lambda *a, **k: asked.append("torch int8") or "fp32")
    got = pick_precision("auto", CPU, net, calibration, (b"x", b"y") if network else None,
                         runtime, crops=1)
    assert (asked, got) == (timed, expected)
    monkeypatch.setenv(timing.MODE_VARIABLE, "rule")          # the rule: no OpenVINO, no timing
    assert pick_precision("auto", CPU, net, calibration, (b"x", b"y") if network else None,
                          runtime) == ("fp32" if network else "int8")


@pytest.mark.parametrize("seconds, choice", [({"fp32": 1.0, "int8": 0.5}, "int8"),
                                             ({"fp32": 1.0, "int8": 0.97}, "fp32")])
def test_the_int8_network_is_timed_once_and_cached(tmp_path, monkeypatch, seconds, choice):
    pytest.importorskip("openvino")
    monkeypatch.setenv("SIAMFC_CACHE_DIR", str(tmp_path))
    calls = []
    net = build_backbone("mobilenetv2_s16")
    for _ in range(2):
        chosen = timing.faster_openvino_int8(net, (b"x", b"y"), "test CPU",
                                             measure_fn=lambda *a: calls.append(a) or seconds)
        assert chosen == choice
    assert len(calls) == 1


@pytest.mark.parametrize("before, inside", [(2, 1), (1, 1), (3, 2)])
def test_torch_threads_are_set_inside_and_restored(before, inside):
    from tracker.model.threads import torch_threads
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(before)
        with pytest.raises(KeyError):            # restored on errors too
            with torch_threads(inside):
                assert torch.get_num_threads() == inside
                raise KeyError("x")
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(saved)


@pytest.mark.parametrize("env, long", [
    ({}, True), ({"GOMP_SPINCOUNT": "10000"}, False), ({"GOMP_SPINCOUNT": "300000"}, True),
    ({"GOMP_SPINCOUNT": "infinite"}, True), ({"OMP_WAIT_POLICY": "passive"}, False),
    ({"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "10"}, True)])
def test_how_long_openmp_spins_is_read_from_the_environment(env, long):
    from tracker.model.threads import openmp_spins_long
    assert openmp_spins_long(env) is long


@needs_openvino
@pytest.mark.parametrize("runtime, spin, inside", [
    ("openvino", None, 1), ("openvino", "10000", 2), ("torch", None, 2)])
def test_own_torch_ops_run_on_one_thread_beside_openvino(monkeypatch, runtime, spin, inside):
    """Beside OpenVINO, while OpenMP spins long, the tracker's torch work runs on one thread
    (OpenVINO keeps the count it was made with); with a short spin (the command line's) or
    torch as the runtime nothing changes; the count is restored."""
    from tracker.steps import scale_search
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    if spin is None:
        monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    else:
        monkeypatch.setenv("GOMP_SPINCOUNT", spin)
    saved = torch.get_num_threads()
    seen = []
    real = scale_search.raw_cues
    monkeypatch.setattr(scale_search, "raw_cues",
                        lambda *a: seen.append(torch.get_num_threads()) or real(*a))
    try:
        torch.set_num_threads(2)
        tracker = SiamFCMultiTracker(random_net("mobilenetv2_s16"), TrackerConfig(),
                                     device="cpu", dtype="fp32", runtime=runtime)
        clip = make_clip(num_frames=3, size=(320, 240), seed=1)
        tracker.init(clip.frames[0], clip.boxes[:1])
        tracker.update(clip.frames[1])
        assert seen == [inside] and torch.get_num_threads() == 2
        if runtime == "openvino":
            assert tracker.model.backbone.threads == 2
    finally:
        torch.set_num_threads(saved)
