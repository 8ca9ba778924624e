"""Finding, loading and saving network weights (state dicts, loaded with weights_only=True)."""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import torch

from ..errors import WeightsError
from .fusion import fold_batchnorm
from .network import (NAME_KEY, SiamNet, backbone_from_state, branches_of, head_of,
                      init_weights, name_tensor)
from .quantize import calibration_fits, calibration_path, load_calibration
from .runtime import check_precision, int8_pays, resolve_device

DEFAULT_BACKBONE = "mobilenetv2"   # the network of the default weights file
LITE_BACKBONE = "alexnet_slim"     # the backbone of weights/siamfc_lite.pth
FAST_BACKBONE = "mobilenetv2_s16"  # the network of --fast (with its siamfc-1s preset)
DEFAULT_FILES = {"mobilenetv2": "siamfc_mobilenetv2.pth", "alexnet": "siamfc_alexnet.pth",
                 LITE_BACKBONE: "siamfc_lite.pth", "mobilenetv2_64": "siamfc_mobilenetv2_64.pth",
                 FAST_BACKBONE: "siamfc_mobilenetv2_s16.pth"}
#: the shipped weights of the other heads, by (head, backbone): ``siamfc track --head xcorr-box``
HEAD_FILES = {("xcorr-box", "mobilenetv2"): "siamfc_mobilenetv2_box.pth"}
#: the network of each other head's shipped file, for ``--head`` without ``--backbone``
HEAD_BACKBONES = {"xcorr-box": "mobilenetv2"}
HOW_TO_GET = ("check the path given to --weights (or $SIAMFC_WEIGHTS, which sets the default "
              "file); the shipped files are listed in weights/README.md")


def weights_dirs() -> list[Path]:
    """Where default weights are looked for: the repository's weights/ then the install prefix."""
    repository = Path(__file__).resolve().parents[2]      # tracker/model/weights.py -> repo
    return [repository / "weights", Path(sys.prefix) / "share" / "siamfc" / "weights"]


def default_weights_path(backbone: str | None = None, head: str = "xcorr") -> Path:
    """The default weights file for ``backbone`` with ``head`` ($SIAMFC_WEIGHTS wins when set);
    ``backbone=None``: the default network, or the network of the head's shipped file."""
    env = os.environ.get("SIAMFC_WEIGHTS")
    if env:
        return Path(env)
    if backbone is None:
        backbone = HEAD_BACKBONES.get(head, DEFAULT_BACKBONE)
    if head != "xcorr":
        name = HEAD_FILES.get((head, backbone))
        if name is None:
            shipped = ", ".join(f"{h} with {b}" for h, b in HEAD_FILES)
            raise WeightsError(f"no shipped weights for head {head!r} with backbone {backbone!r} "
                               f"(shipped: {shipped}); pass a weights path")
    else:
        try:
            name = DEFAULT_FILES[backbone]
        except KeyError:
            raise WeightsError(f"no default weights for backbone {backbone!r}; pass a weights path") from None
    candidates = [d / name for d in weights_dirs()]
    for path in candidates:
        if path.is_file():
            return path
    return candidates[0]


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict safely; errors name the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}; {HOW_TO_GET}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, corrupt, or not a torch file
        raise WeightsError(f"cannot read weights file {path}: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'} "
                           "(truncated or not a state dict?)") from exc
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        backbone = (state.get("config") or {}).get("backbone")   # a training checkpoint
        state = dict(state["model"])
        if isinstance(backbone, str):
            state[NAME_KEY] = name_tensor(backbone)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"weights file {path} does not hold a state dict of tensors")
    return state


#: no trained weight, BatchNorm statistic included, comes near this in magnitude (the largest in
#: our files are running variances of a few thousand); beyond it a training run had diverged
WEIGHT_LIMIT = 1e6


def largest_weight(state: dict[str, torch.Tensor]) -> tuple[str, float]:
    """(name, magnitude) of the state dict's floating-point tensor with the largest absolute
    value; the magnitude is inf or nan as soon as one tensor is not finite."""
    worst, name = 0.0, ""
    for key, value in state.items():
        if not value.is_floating_point() or value.numel() == 0:
            continue
        top = float(value.detach().abs().max())
        if not math.isfinite(top):
            return key, top
        if top > worst:
            worst, name = top, key
    return name, worst


def healthy(value: float) -> bool:
    """A ``largest_weight`` magnitude of a network that did not diverge."""
    return math.isfinite(value) and value <= WEIGHT_LIMIT


def detect_backbone(state: dict[str, torch.Tensor]) -> str | None:
    """The registered backbone that fits ``state`` best: most parameters with the right name and
    shape, then most names (so a near miss still gets a precise error); None when no name
    matches at all."""
    from .backbones import BACKBONES
    scores = {}
    for name in BACKBONES:
        expected = SiamNet(name).state_dict()
        shared = set(expected) & set(state)
        scores[name] = (sum(state[k].shape == expected[k].shape for k in shared), len(shared))
    best = max(scores, key=scores.__getitem__)
    return best if scores[best][1] else None


def network_of(path: str | os.PathLike, backbone: str | None = None) -> str:
    """The backbone name of the weights at ``path``: ``backbone`` when given, else read from
    the file as ``load_model`` reads it (``WeightsError`` when missing or fitting none)."""
    return backbone if backbone is not None else _backbone_name(load_state_dict(path), path)


def _backbone_name(state: dict[str, torch.Tensor], path: str | os.PathLike,
                   backbone: str | None = None) -> str:
    """The registered backbone of a weights ``state`` (its stored name, removed from
    ``state``, else the best fit), which a given ``backbone`` must match; ``WeightsError``
    naming ``path`` otherwise."""
    from .backbones import BACKBONES
    stored = backbone_from_state(state)
    if stored is not None:
        if stored not in BACKBONES:
            raise WeightsError(f"weights file {path} is for backbone {stored!r}, which this version "
                               f"does not have (it has {sorted(BACKBONES)})")
        if backbone is not None and backbone != stored:
            raise WeightsError(f"weights file {path} is for backbone {stored!r}, not {backbone!r}; "
                               "drop --backbone or pick the matching file")
        return stored
    if backbone is None:
        backbone = detect_backbone(state)
        if backbone is None:
            raise WeightsError(f"weights file {path} fits none of the backbones {sorted(BACKBONES)} "
                               f"(first keys: {sorted(state)[:3]})")
    return backbone


def load_model(path: str | os.PathLike, backbone: str | None = None) -> SiamNet:
    """A ``SiamNet`` in eval mode with weights from ``path`` (on the CPU); ``backbone`` is
    read from the file when None."""
    state = load_state_dict(path)
    backbone = _backbone_name(state, path, backbone)
    model = SiamNet(backbone, branches=branches_of(state), head=head_of(state))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise WeightsError(f"weights file {path} does not fit backbone {backbone!r}: "
                           f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
                           f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}")
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise WeightsError(f"weights file {path} does not fit backbone {backbone!r}: "
                               f"{key} has shape {tuple(value.shape)}, expected "
                               f"{tuple(expected[key].shape)}")
    name, value = largest_weight(state)
    if not healthy(value):
        raise WeightsError(f"weights file {path} is broken: {name} holds {value:.3g} (not finite "
                           f"or beyond {WEIGHT_LIMIT:g}: its training diverged); use another file")
    model.load_state_dict(state)
    return model.eval()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file (weights, score models, ONNX files)."""
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_score_model(path: str | os.PathLike | None, backbone: str | None = None,
                     pretrained: bool = True, online: bool = False):
    """The ``ScoreModel`` fitted for the weights at ``path`` (the backbone's default file when
    None) and the tracker's ``online`` setting: ``<weights>.online.score.json`` or
    ``<weights>.score.json`` beside it (``confidence.score_model_file``), else the raw peak.
    ``WeightsError`` when that file was fitted for other weights (its ``weights_sha256``
    differs)."""
    from ..confidence import RAW_PEAK, ScoreModel, score_model_file
    if not pretrained:
        return RAW_PEAK
    if path is None:
        path = default_weights_path(backbone or DEFAULT_BACKBONE)
    sidecar = score_model_file(path, online)
    if sidecar is None:
        return RAW_PEAK
    try:
        model = ScoreModel.load(sidecar)
    except ValueError as exc:
        raise WeightsError(str(exc)) from None
    made_for = model.extra.get("weights_sha256")
    if made_for and Path(path).is_file() and made_for != file_sha256(path):
        raise WeightsError(f"{sidecar} was fitted for other weights than {path}; run `siamfc "
                           f"fit-score --weights {path} --data TRAIN_DIR`, or delete it")
    return model


def load_network(path: str | os.PathLike | None, backbone: str | None, pretrained: bool,
                 dtype: str = "auto", device: str | torch.device = "auto"
                 ) -> tuple[SiamNet, dict[str, torch.Tensor] | None]:
    """Weights from ``path`` (the backbone's default file when None), or random ones when not
    ``pretrained``. ``backbone=None``: read from the file (``mobilenetv2`` for the default file).
    With ``dtype="int8"`` also the calibration file beside the weights (an error when missing);
    with ``"auto"`` on a CPU with the x86 int8 engine, that file when there is one."""
    check_precision(dtype)
    if not pretrained:
        model = SiamNet(backbone or DEFAULT_BACKBONE)
        init_weights(model)
        return model.eval(), None
    if path is None:
        path = default_weights_path(backbone or DEFAULT_BACKBONE)
    model = load_model(path, backbone)
    calib = calibration_path(path)
    wanted = dtype == "int8" or (dtype == "auto" and calib.is_file() and int8_pays()
                                 and resolve_device(device).type == "cpu")
    if not wanted:
        return model, None
    calibration = load_calibration(calib)
    if dtype == "int8" and calibration_fits(fold_batchnorm(model).backbone, calibration) is False:
        raise WeightsError(f"{calib} was made for other weights than {path}; run `siamfc quantize "
                           f"--weights {path} --data TRAIN_DIR`, or use fp32")
    return model, calibration
