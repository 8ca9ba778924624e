"""Int8 backbone (post-training quantization) and the lighter backbones."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tracker.model.backbones import BACKBONES
from tracker.errors import WeightsError
from tracker.model.fusion import fold_batchnorm
from tracker.model.network import SiamNet, init_weights
from tracker.model.quantize import (calibrate, calibration_crops, calibration_path, int8_available,
                              load_calibration, quantize_backbone)
from tracker.diagnostics.synthetic import make_clip
from tracker.training.sequences import TrainSequence
from tracker.model.weights import detect_backbone, load_model

needs_int8 = pytest.mark.skipif(not int8_available(), reason="no x86 quantized engine in this torch")


@pytest.fixture(scope="module")
def clip_sequence(tmp_path_factory) -> TrainSequence:
    """A generated clip written as JPEG frames: the calibration source."""
    import cv2
    root = tmp_path_factory.mktemp("calib")
    clip = make_clip(num_frames=24, size=(320, 240), seed=3)
    paths = []
    for i, frame in enumerate(clip.frames):
        paths.append(str(root / f"{i:04d}.jpg"))
        cv2.imwrite(paths[-1], frame)
    return TrainSequence("clip", tuple(paths), np.arange(len(paths)), np.asarray(clip.boxes, dtype=float))


def folded(backbone: str, seed: int = 0) -> SiamNet:
    torch.manual_seed(seed)
    net = SiamNet(backbone)
    init_weights(net)
    return fold_batchnorm(net.eval())


# the padded ImageNet families (test_pretrained.py): 127 -> 8x8, 255 -> 24x24 after the border cut
PADDED = sorted(n for n in BACKBONES if getattr(SiamNet(n).backbone, "pretrained", ""))
UNPADDED = sorted(set(BACKBONES) - set(PADDED))


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_contract(name):
    """Every backbone: the channels it declares, and a search crop 128 px wider than the
    exemplar gives 128 / stride cells more (a 17x17 response at stride 8, 9x9 at 16): 6x6 and
    22x22 without padding, 8x8 and 24x24 for the padded ones, 4x4 and 12x12 at stride 16."""
    net = SiamNet(name).eval()
    stride = net.backbone.total_stride
    with torch.no_grad():
        z = net.features(torch.rand(2, 3, 127, 127) * 255)
        x = net.features(torch.rand(2, 3, 255, 255) * 255)
    assert z.shape[:2] == x.shape[:2] == (2, net.backbone.out_channels)
    assert x.shape[-1] - z.shape[-1] == 128 // stride
    side = {8: 8 if name in PADDED else 6, 16: 4}[stride]
    assert z.shape[-2:] == (side, side)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_detected_from_weights(tmp_path, name):
    net = SiamNet(name)
    path = tmp_path / f"{name}.pth"
    torch.save(net.state_dict(), path)
    assert detect_backbone(net.state_dict()) == name
    assert load_model(path).backbone_name == name           # read from the file
    other = "mobile" if name == "alexnet" else "alexnet"
    with pytest.raises(WeightsError, match=str(path.name)):
        load_model(path, other)                              # explicit and wrong: named error


def test_unknown_architecture_is_named(tmp_path):
    path = tmp_path / "odd.pth"
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, path)
    with pytest.raises(WeightsError, match="fits none of the backbones"):
        load_model(path)


@needs_int8
@pytest.mark.slow
@pytest.mark.parametrize("name", UNPADDED)    # the padded ones: test_pretrained.py
def test_int8_features_close_to_fp32(name, clip_sequence):
    """Int8 features of real-looking crops within 10% (relative L2) of fp32, and the response
    peak in the same cell on matching exemplar/search pairs."""
    net = folded(name)
    batches = list(calibration_crops([clip_sequence], num_frames=24, batch=8))
    q = quantize_backbone(net.backbone, calibrate(net.backbone, batches))
    z, x = batches[0], batches[1]
    with torch.no_grad():
        fz, fx, qz, qx = net.backbone(z), net.backbone(x), q(z), q(x)
        assert ((fz - qz).norm() / fz.norm()).item() < 0.10
        assert ((fx - qx).norm() / fx.norm()).item() < 0.10
        r, rq = net.head(fz, fx), net.head(qz, qx)
    assert ((r - rq).norm() / r.norm()).item() < 0.05


@needs_int8
def test_int8_calibration_round_trip_and_errors(tmp_path, clip_sequence):
    weights = tmp_path / "w.pth"
    assert calibration_path(weights) == tmp_path / "w.int8.pth"
    net = folded("alexnet")
    state = calibrate(net.backbone, calibration_crops([clip_sequence], num_frames=8, batch=8))
    torch.save(state, calibration_path(weights))
    loaded = load_calibration(calibration_path(weights))
    assert loaded.keys() == state.keys()
    with pytest.raises(WeightsError, match="w.int8.pth"):
        load_calibration(tmp_path / "w.int8.pth.missing")
    (tmp_path / "bad.int8.pth").write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="bad.int8.pth"):
        load_calibration(tmp_path / "bad.int8.pth")
    with pytest.raises(WeightsError, match="siamfc quantize"):
        quantize_backbone(folded("mobile").backbone, loaded)   # another backbone's calibration


@needs_int8
@pytest.mark.slow
def test_int8_tracker_follows_fp32(tmp_path, clip_sequence, small_clip):
    """An int8 tracker built by from_pretrained (weights + calibration file beside them) tracks
    like the fp32 one (IoU >= 0.7 on every frame) and leaves torch's engine setting alone."""
    from tracker.geometry import iou_ltwh
    from tracker.siamfc import SiamFCTracker
    from tracker.model.weights import default_weights_path
    weights = default_weights_path("alexnet")      # int8 is calibrated for it (see weights/README.md)
    if not weights.is_file():
        pytest.skip("no shipped weights")
    net = fold_batchnorm(load_model(weights))
    path = tmp_path / "w.pth"
    torch.save(load_model(weights).state_dict(), path)
    torch.save(calibrate(net.backbone, calibration_crops([clip_sequence], num_frames=24, batch=8)),
               calibration_path(path))
    engine = torch.backends.quantized.engine
    ref = SiamFCTracker.from_pretrained(path, device="cpu", dtype="fp32")
    low = SiamFCTracker.from_pretrained(path, device="cpu", dtype="int8")
    assert torch.backends.quantized.engine == engine
    boxes = [np.array([r.box for r in t.track(small_clip.frames, small_clip.boxes[0])]) for t in (ref, low)]
    assert iou_ltwh(boxes[0], boxes[1]).min() >= 0.7


def write_data_root(root, sequence: TrainSequence) -> None:
    """``sequence`` as a GOT-style training root ``root`` (one sequence, ``clip``)."""
    from pathlib import Path
    folder = root / "clip"
    folder.mkdir(parents=True)
    for i, src in enumerate(sequence.frames):
        (folder / f"{i + 1:08d}.jpg").write_bytes(Path(src).read_bytes())
    np.savetxt(folder / "groundtruth.txt", sequence.boxes, delimiter=",", fmt="%.2f")


@needs_int8
def test_quantize_cli_writes_calibration(tmp_path, clip_sequence):
    from tracker.cli import main
    write_data_root(tmp_path / "data", clip_sequence)
    weights = tmp_path / "net.pth"
    torch.save(SiamNet("mobile").state_dict(), weights)
    assert main(["quantize", "--data", str(tmp_path / "data"), "--weights", str(weights),
                 "--frames", "8", "--quiet"]) == 0
    assert set(load_calibration(tmp_path / "net.int8.pth"))
    assert main(["quantize", "--data", str(tmp_path / "nowhere"), "--weights", str(weights),
                 "--quiet"]) == 2


@needs_int8
def test_quantize_cli_adds_the_openvino_network(tmp_path, clip_sequence, monkeypatch):
    """``--openvino``: the same file also carries the OpenVINO int8 network, which the tracker
    then runs with ``--runtime openvino``; without NNCF a one-line error."""
    import importlib.util

    from tracker import SiamFCTracker
    from tracker.cli import main
    from tracker.model.openvino import openvino_available
    from tracker.model.quantize import openvino_network
    if not openvino_available():
        pytest.skip('needs openvino (pip install "siamfc[openvino]")')
    write_data_root(tmp_path / "data", clip_sequence)
    weights = tmp_path / "net.pth"
    net = SiamNet("mobilenetv2_s16")
    init_weights(net)
    torch.save(net.state_dict(), weights)
    args = ["quantize", "--data", str(tmp_path / "data"), "--weights", str(weights), "--frames",
            "4", "--openvino", "--quiet"]
    if importlib.util.find_spec("nncf") is None:
        assert main(args) == 2
        return
    assert main(args) == 0
    assert openvino_network(load_calibration(tmp_path / "net.int8.pth")) is not None
    tracker = SiamFCTracker.from_pretrained(weights, device="cpu", dtype="int8", runtime="openvino")
    assert (tracker.precision, tracker.runtime) == ("int8", "openvino")
    tracker.init(cv2_frame(clip_sequence, 0), clip_sequence.boxes[0])
    assert tracker.update(cv2_frame(clip_sequence, 1)).score >= 0
    monkeypatch.setitem(__import__("sys").modules, "nncf", None)        # NNCF absent
    assert main(args) == 2


def cv2_frame(sequence: TrainSequence, i: int) -> np.ndarray:
    import cv2
    return cv2.imread(sequence.frames[i])


def test_lite_flag_and_lite_tracker(tmp_path, monkeypatch):
    """--lite picks weights/siamfc_lite.pth (its backbone read from the file); --lite with
    --weights is a one-line error (exit 2); eval's siamfc-lite loads the same file."""
    from tracker.cli import main
    from tracker.evaluation.adapters import TrackerSpec, make_tracker
    from tracker.model.weights import LITE_BACKBONE, default_weights_path
    if not default_weights_path(LITE_BACKBONE).is_file():
        pytest.skip("no shipped lite weights")
    assert main(["demo", "--lite", "--frames", "6", "--output-dir", str(tmp_path / "d"), "--device", "cpu"]) == 0
    assert main(["demo", "--lite", "--weights", "x.pth", "--output-dir", str(tmp_path / "e")]) == 2
    clip = make_clip(num_frames=4, size=(160, 120), seed=2)
    tracker = make_tracker(TrackerSpec("siamfc-lite", device="cpu"))
    tracker.init(clip.frames[0], np.asarray(clip.boxes[0]))
    assert np.all(np.isfinite(tracker.update(clip.frames[1]).box))


@needs_int8
@pytest.mark.slow
def test_int8_backbone_gives_each_input_size_its_own_copy(clip_sequence):
    """Int8Backbone equals a plain converted module on every size, one copy per (H, W)."""
    from tracker.model.quantize import Int8Backbone
    net = folded("alexnet")
    cal = calibrate(net.backbone, calibration_crops([clip_sequence], num_frames=8, batch=8))
    multi = Int8Backbone(net.backbone, cal)
    plain = quantize_backbone(net.backbone, cal)
    with torch.no_grad():
        for shape in [(1, 3, 127, 127), (3, 3, 255, 255), (5, 3, 255, 255), (1, 3, 127, 127)]:
            x = torch.rand(shape) * 255
            torch.testing.assert_close(multi(x), plain(x))
    assert sorted(multi._by_size) == [(127, 127), (255, 255)]
    eager = Int8Backbone(net.backbone, cal, sizes=[(127, 127), (255, 255)])
    assert sorted(eager._by_size) == [(127, 127), (255, 255)]      # made up front
    with torch.no_grad():
        x = torch.rand(3, 3, 255, 255) * 255
        torch.testing.assert_close(eager(x), plain(x))


@pytest.fixture
def calibrated_weights(tmp_path, clip_sequence):
    """(weights path, its calibration path): random alexnet weights with a fresh calibration."""
    torch.manual_seed(0)
    net = SiamNet("alexnet")
    init_weights(net)
    path = tmp_path / "w.pth"
    torch.save(net.state_dict(), path)
    cal = calibrate(fold_batchnorm(net).backbone,
                    calibration_crops([clip_sequence], num_frames=8, batch=8))
    torch.save(cal, calibration_path(path))
    return path, calibration_path(path)


def test_calibration_carries_the_weights_fingerprint(calibrated_weights):
    """The fingerprint matches the weights it was made for, not others (one changed value)."""
    from tracker.model.quantize import FINGERPRINT_KEY, calibration_fits
    path, cal_path = calibrated_weights
    cal = load_calibration(cal_path)
    assert cal[FINGERPRINT_KEY].dtype == torch.uint8 and cal[FINGERPRINT_KEY].shape == (32,)
    backbone = fold_batchnorm(load_model(path)).backbone
    assert calibration_fits(backbone, cal) is True
    with torch.no_grad():
        backbone.conv5.weight[0, 0, 0, 0] += 1e-3
    assert calibration_fits(backbone, cal) is False
    old = {k: v for k, v in cal.items() if k != FINGERPRINT_KEY}     # a file from before
    assert calibration_fits(backbone, old) is None


@pytest.mark.parametrize("case,auto,explicit", [
    ("matching", "int8", "int8"),
    ("no file", "fp32", "error: no int8 calibration"),
    ("other weights", "fp32", "error: made for other weights"),
    ("no fingerprint", "fp32", "int8"),
])
@pytest.mark.slow
def test_auto_precision_on_the_cpu(calibrated_weights, case, auto, explicit):
    """dtype="auto" (the default) is int8 only with a calibration made for these weights, else
    fp32; an explicit int8 refuses a missing or mismatched calibration, naming the file."""
    from tracker.model.quantize import FINGERPRINT_KEY
    from tracker.siamfc import SiamFCTracker
    path, cal_path = calibrated_weights
    if case == "no file":
        cal_path.unlink()
    elif case == "other weights":
        state = torch.load(path, weights_only=True)
        state["backbone.conv5.weight"][0, 0, 0, 0] += 1e-3
        torch.save(state, path)
    elif case == "no fingerprint":
        cal = load_calibration(cal_path)
        del cal[FINGERPRINT_KEY]
        torch.save(cal, cal_path)
    if int8_available():
        assert SiamFCTracker.from_pretrained(path, device="cpu").precision == auto
    else:
        assert SiamFCTracker.from_pretrained(path, device="cpu").precision == "fp32"
    assert SiamFCTracker.from_pretrained(path, device="cpu", dtype="fp32").precision == "fp32"
    if not int8_available():
        return
    if explicit.startswith("error: "):
        with pytest.raises(WeightsError, match=explicit.removeprefix("error: ")) as info:
            SiamFCTracker.from_pretrained(path, device="cpu", dtype="int8")
        assert "w.int8.pth" in str(info.value)
    else:
        assert SiamFCTracker.from_pretrained(path, device="cpu", dtype="int8").precision == explicit


@needs_int8
@pytest.mark.slow
def test_eval_names_the_precision_auto_picked(calibrated_weights):
    """An eval spec with dtype="auto" resolves to the concrete precision for its results label."""
    from tracker.evaluation.adapters import TrackerSpec
    path, cal_path = calibrated_weights
    spec = TrackerSpec("siamfc", weights=str(path), dtype="auto")
    assert spec.resolved().dtype == "int8" and spec.resolved().label == "siamfc@w-int8"
    cal_path.unlink()
    assert spec.resolved().dtype == "fp32" and spec.resolved().label == "siamfc@w"
    assert TrackerSpec("opencv-kcf", dtype="auto").resolved().label == "opencv-kcf"


@needs_int8
@pytest.mark.parametrize("device,with_calibration,avx2,expected", [
    ("cpu", True, True, "int8"), ("cpu", False, True, "fp32"), ("cuda", True, True, "fp32"),
    ("cpu", True, False, "fp32")])
def test_pick_precision(calibrated_weights, device, with_calibration, avx2, expected, monkeypatch):
    """auto: int8 only on a CPU where it pays (AVX2 or better) and only with a fitting
    calibration (CUDA stays fp32)."""
    from tracker.model import runtime
    from tracker.model.runtime import CPUInfo, pick_precision
    monkeypatch.setattr(runtime, "cpu_info", lambda: CPUInfo("test CPU", "AVX2" if avx2 else
                                                             "DEFAULT", avx2, False, False))
    path, cal_path = calibrated_weights
    backbone = fold_batchnorm(load_model(path)).backbone
    cal = load_calibration(cal_path) if with_calibration else None
    assert pick_precision("auto", torch.device(device), backbone, cal) == expected
    assert pick_precision("bf16", torch.device(device), backbone, cal) == "bf16"


@needs_int8
@pytest.mark.slow
@pytest.mark.parametrize("int8_s,expected", [(0.5, "int8"), (2.0, "fp32")])
def test_auto_keeps_int8_only_where_it_measures_faster(calibrated_weights, monkeypatch, tmp_path,
                                                       int8_s, expected):
    """With timing on (the default outside tests), auto is int8 only when it measured faster
    than fp32 on this machine; the measurement is of the real backbones, faked here."""
    from tracker.model import runtime, timing
    from tracker.model.runtime import CPUInfo
    from tracker.siamfc import SiamFCTracker
    monkeypatch.setattr(runtime, "cpu_info", lambda: CPUInfo("test CPU", "AVX2", True, False, False))
    monkeypatch.setenv("SIAMFC_AUTO_PRECISION", "time")
    monkeypatch.setenv("SIAMFC_CACHE_DIR", str(tmp_path))
    seen, real = [], timing.measure

    def measure(backbone, calibration, size, crops):
        seen.append(real(backbone, calibration, size, crops))   # the real measurement runs
        return {"fp32": 1.0, "int8": int8_s}
    monkeypatch.setattr(timing, "measure", measure)
    path, _ = calibrated_weights
    assert SiamFCTracker.from_pretrained(path, device="cpu").precision == expected
    assert len(seen) == 1 and set(seen[0]) == {"fp32", "int8"} and min(seen[0].values()) > 0
