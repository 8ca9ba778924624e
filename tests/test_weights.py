from pathlib import Path

import pytest
import torch

from tracker import SiamFCTracker, WeightsError
from tracker.model.network import SiamNet
from tracker.model.runtime import resolve_device
from tracker.model.weights import default_weights_path, load_model


def test_missing_file_names_path(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(WeightsError, match="nope.pth") as info:
        SiamFCTracker.from_pretrained(path)
    assert "--weights" in str(info.value) and "siamfc train" not in str(info.value)


def test_truncated_file(tmp_path, random_weights):
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(random_weights.read_bytes()[:1000])
    with pytest.raises(WeightsError, match="truncated.pth"):
        load_model(bad)


def test_not_a_torch_file(tmp_path):
    bad = tmp_path / "text.pth"
    bad.write_text("hello")
    with pytest.raises(WeightsError, match="text.pth"):
        load_model(bad)


def test_wrong_architecture(tmp_path):
    state = SiamNet().state_dict()
    key = next(k for k in state if k.endswith("weight"))
    state[key] = torch.zeros(48, 3, 11, 11)
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match="shape"):
        load_model(path)
    del state[key]
    torch.save(state, path)
    with pytest.raises(WeightsError, match="missing"):
        load_model(path)


def test_round_trip_and_checkpoint_format(tmp_path, random_weights):
    model = load_model(random_weights)
    ref = torch.load(random_weights, weights_only=True)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, ref[k])
    ckpt = tmp_path / "last.pth"
    torch.save({"model": ref, "epoch": 3}, ckpt)
    load_model(ckpt)


def test_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("SIAMFC_WEIGHTS", str(tmp_path / "x.pth"))
    assert default_weights_path() == tmp_path / "x.pth"


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
SHIPPED = WEIGHTS_DIR / "siamfc_mobilenetv2.pth"      # the default


@pytest.mark.parametrize("path", sorted(WEIGHTS_DIR.glob("*.pth")), ids=lambda p: p.name)
def test_shipped_files_checksums_match_readme(path):
    """Every file in weights/ (weights and int8 calibrations) has its sha256 in the README."""
    import hashlib
    import re
    readme = (WEIGHTS_DIR / "README.md").read_text()
    recorded = re.search(rf"^\| `{re.escape(path.name)}`.*`([0-9a-f]{{64}})`", readme, re.M)
    assert recorded, f"weights/README.md must record the sha256 of {path.name}"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded.group(1)


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped weights in this checkout")
def test_shipped_weights_track_the_synthetic_clip():
    import numpy as np

    from tracker.geometry import iou_ltwh
    from tracker.diagnostics.synthetic import make_clip
    clip = make_clip(num_frames=60)      # the demo's clip, shortened
    tracker = SiamFCTracker.from_pretrained(device="cpu")
    boxes = np.array([r.box for r in tracker.track(clip.frames, clip.boxes[0])])
    assert iou_ltwh(boxes, clip.boxes).mean() > 0.5


SHIPPED_BOX = WEIGHTS_DIR / "siamfc_mobilenetv2_box.pth"       # --head xcorr-box


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_BOX.is_file(), reason="no box-head weights in this checkout")
def test_shipped_box_head_weights_track_the_synthetic_clip():
    """``from_pretrained(head="xcorr-box")`` loads the shipped box-head file, with its own score
    model, and follows the demo's clip."""
    import numpy as np

    from tracker.confidence import ScoreModel, score_model_path
    from tracker.diagnostics.synthetic import make_clip
    from tracker.geometry import iou_ltwh
    from tracker.model.weights import file_sha256, load_model
    assert load_model(SHIPPED_BOX).head_kind == "xcorr-box"
    assert ScoreModel.load(score_model_path(SHIPPED_BOX)).extra["weights_sha256"] == file_sha256(SHIPPED_BOX)
    clip = make_clip(num_frames=60)
    tracker = SiamFCTracker.from_pretrained(head="xcorr-box", device="cpu", dtype="fp32")
    boxes = np.array([r.box for r in tracker.track(clip.frames, clip.boxes[0])])
    assert iou_ltwh(boxes, clip.boxes).mean() > 0.5
