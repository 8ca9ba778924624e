"""Int8 backbone for CPU inference (post-training static quantization, x86/oneDNN kernels).

On CPUs with AVX-512 VNNI an int8 convolution does four times the multiply-adds of an fp32
one per instruction. The backbone's convolutions (BatchNorm already folded, ReLU fused in) run
in int8 with per-channel weight scales; activation ranges come from a calibration file made
once per weights file by ``siamfc quantize`` (exemplar and search crops of training frames),
stored next to the weights as ``<weights>.int8.pth`` (a dict of tensors, loaded with
``weights_only=True``), together with a fingerprint of the weights it was made for, so that a
calibration is never applied to other weights. Cross-correlation and the peak search stay fp32.
The same file may also carry the backbone quantized for OpenVINO (``siamfc quantize
--openvino``: the IR's bytes under ``OPENVINO_KEYS``), which ``--runtime openvino`` runs in int8.
"""
from __future__ import annotations

import copy
import hashlib
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np
import torch
from torch import nn

from ..errors import WeightsError

if TYPE_CHECKING:
    from ..config import TrackerConfig

ENGINE = "x86"
_OBSERVER_KEY = "activation_post_process"
FINGERPRINT_KEY = "weights_sha256"     # (32,) uint8: sha256 of the folded backbone's weights
OPENVINO_KEYS = ("openvino/xml", "openvino/bin")   # (n,) uint8: the OpenVINO int8 IR's two files


def calibration_path(weights: str | os.PathLike) -> Path:
    """Where the int8 calibration of ``weights`` lives: ``<weights>.int8.pth`` beside it."""
    p = Path(weights)
    return p.with_name(p.name + ".int8.pth") if p.suffix != ".pth" else p.with_suffix(".int8.pth")


def int8_available() -> bool:
    """True when this torch build has the x86 quantized engine."""
    try:
        import torch.ao.quantization  # noqa: F401
    except ImportError:
        return False
    return ENGINE in torch.backends.quantized.supported_engines


def weights_fingerprint(backbone: nn.Module) -> torch.Tensor:
    """(32,) uint8 sha256 of ``backbone``'s state (names, shapes and float32 values, in order):
    what a calibration records about the weights it was made for (BatchNorm already folded)."""
    digest = hashlib.sha256()
    for name, tensor in backbone.state_dict().items():
        t = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{name}:{tuple(t.shape)};".encode())
        digest.update(t.numpy().tobytes())
    return torch.frombuffer(bytearray(digest.digest()), dtype=torch.uint8)


def calibration_fits(backbone: nn.Module, calibration: dict[str, torch.Tensor]) -> bool | None:
    """True when ``calibration`` was made for exactly these (folded) weights, False when it was
    made for others, None when it carries no fingerprint (files from before fingerprints)."""
    stored = calibration.get(FINGERPRINT_KEY)
    if stored is None:
        return None
    return bool(torch.equal(stored.to(torch.uint8).cpu(), weights_fingerprint(backbone)))


def _fuse_conv_relu(module: nn.Module) -> list[nn.Module]:
    """In every ``nn.Sequential``: Conv2d, (Identity...), ReLU -> one fused module (in place);
    Conv2d, (Identity...), ReLU6 -> the fused module followed by the ReLU6. Returns the fused
    modules before a ReLU6: their int8 output gets the fixed range [0, 6] (as in TFLite), not
    the observed one, which a few BatchNorm-folded channels with huge outputs (MobileNetV2:
    up to 2,000, clipped by the ReLU6 in float) would stretch until the other channels lose
    all resolution."""
    from torch.ao.nn.intrinsic import ConvReLU2d
    relu6: list[nn.Module] = []
    plain = [m for m in module.modules() if type(m) is nn.Sequential]   # listed before changing
    for seq in plain:
        names = [n for n, _ in seq.named_children()]
        for i, name in enumerate(names):
            conv = getattr(seq, name)
            if not isinstance(conv, nn.Conv2d):
                continue
            j = i + 1
            while j < len(names) and isinstance(getattr(seq, names[j]), nn.Identity):
                j += 1
            if j < len(names) and isinstance(getattr(seq, names[j]), (nn.ReLU, nn.ReLU6)):
                fused = ConvReLU2d(conv, nn.ReLU())
                setattr(seq, name, fused)
                if isinstance(getattr(seq, names[j]), nn.ReLU6):
                    relu6.append(fused)     # the ReLU6 stays: the int8 kernel saturates at 2 x 6
                else:
                    setattr(seq, names[j], nn.Identity())
    return relu6


def _prepared(backbone: nn.Module) -> nn.Module:
    """A float copy of ``backbone`` (BatchNorm folded) with ReLUs fused and observers inserted."""
    import torch.ao.quantization as tq
    model = copy.deepcopy(backbone).float().eval()
    relu6 = _fuse_conv_relu(model)
    wrapped = tq.QuantWrapper(model)
    wrapped.qconfig = tq.get_default_qconfig(ENGINE)
    # [0, 6] in 128 steps (7 bits: the x86 kernels' safe range without VNNI)
    six = tq.FixedQParamsObserver.with_args(scale=6.0 / 127, zero_point=0, dtype=torch.quint8,
                                            quant_min=0, quant_max=127)
    for m in relu6:
        m.qconfig = tq.QConfig(activation=six, weight=wrapped.qconfig.weight)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # torch.ao.quantization deprecation notices
        return tq.prepare(wrapped)


@torch.no_grad()    # not inference_mode: the observers' buffers must stay loadable
def calibrate(backbone: nn.Module, batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Run (B, 3, H, W) float BGR 0-255 crops through an observed copy of ``backbone`` (folded
    BatchNorm) and return the observers' state with the weights' fingerprint: the calibration
    to save."""
    prepared = _prepared(backbone)
    seen = 0
    for x in batches:
        prepared(x.float())
        seen += x.shape[0]
    if seen == 0:
        raise ValueError("calibration needs at least one crop")
    state = {k: v.clone() for k, v in prepared.state_dict().items() if _OBSERVER_KEY in k}
    return {**state, FINGERPRINT_KEY: weights_fingerprint(backbone)}


def quantize_backbone(backbone: nn.Module, calibration: dict[str, torch.Tensor],
                      source: str = "calibration") -> nn.Module:
    """The int8 module for ``backbone`` (folded BatchNorm): float (B, 3, H, W) in, float out.
    A calibration made for other weights (its fingerprint differs) is refused."""
    import torch.ao.quantization as tq
    if not int8_available():
        raise ValueError(f"int8 needs torch's {ENGINE} quantized engine, missing in this torch "
                         "build; use fp32 or bf16")
    if calibration_fits(backbone, calibration) is False:
        raise WeightsError(f"{source} was made for other weights; run `siamfc quantize` for "
                           "these weights")
    calibration = {k: v for k, v in calibration.items() if k != FINGERPRINT_KEY}
    prepared = _prepared(backbone)
    expected = {k for k in prepared.state_dict() if _OBSERVER_KEY in k}
    if set(calibration) != expected:
        raise WeightsError(f"{source} does not fit this backbone ({len(calibration)} entries, "
                           f"expected {len(expected)}); run `siamfc quantize` for these weights")
    try:
        prepared.load_state_dict(calibration, strict=False)
    except RuntimeError as exc:
        raise WeightsError(f"{source} does not fit this backbone: {str(exc).splitlines()[0]}") from exc
    previous = torch.backends.quantized.engine
    try:   # weights are packed for the engine current at conversion; the caller's setting stays
        torch.backends.quantized.engine = ENGINE
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tq.convert(prepared.eval())
    finally:
        torch.backends.quantized.engine = previous


class Int8Backbone(nn.Module):
    """The int8 backbone with one converted copy per input size (H, W).

    The x86 quantized convolution stays fast only for the first spatial size a module sees:
    here a 255 px search batch ran in 40 ms instead of 21 ms after one 127 px exemplar had gone
    through the same module. Exemplars, search crops and wide re-detection crops therefore each
    get their own copy (AlexNet: 2.3 MB each); batch size does not matter. Copies for ``sizes``
    are made now (about 0.1 s each for AlexNet), any other size's on its first use.
    """

    def __init__(self, backbone: nn.Module, calibration: dict[str, torch.Tensor],
                 source: str = "calibration", sizes: Iterable[tuple[int, int]] = ()) -> None:
        super().__init__()
        self._float = copy.deepcopy(backbone).float().eval()
        self._source = source
        self._pending: nn.Module | None = quantize_backbone(self._float, calibration, source)  # checks now
        # checked once: later copies skip the fingerprint (a hash of all the weights)
        self._calibration = {k: v for k, v in calibration.items() if k != FINGERPRINT_KEY}
        self._by_size: dict[tuple[int, int], nn.Module] = {}
        for size in sizes:
            self._module((int(size[0]), int(size[1])))

    def _module(self, key: tuple[int, int]) -> nn.Module:
        """The converted copy for input size ``key`` (H, W), made on first request."""
        module = self._by_size.get(key)
        if module is None:
            module, self._pending = self._pending, None
            if module is None:
                module = quantize_backbone(self._float, self._calibration, self._source)
            self._by_size[key] = module
        return module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float -> float features."""
        return self._module((int(x.shape[-2]), int(x.shape[-1])))(x)


#: prefix of the search branch's entries in the calibration of separate-branch weights
SEARCH_PREFIX = "search/"


def split_calibration(calibration: dict[str, torch.Tensor] | None
                      ) -> tuple[dict[str, torch.Tensor] | None, dict[str, torch.Tensor] | None]:
    """(exemplar branch's, search branch's or None) parts of a calibration (None: None, None)."""
    if calibration is None:
        return None, None
    calibration = {k: v for k, v in calibration.items() if k not in OPENVINO_KEYS}
    search = {k[len(SEARCH_PREFIX):]: v for k, v in calibration.items() if k.startswith(SEARCH_PREFIX)}
    exemplar = {k: v for k, v in calibration.items() if not k.startswith(SEARCH_PREFIX)}
    return exemplar, (search or None)


def openvino_network(calibration: dict[str, torch.Tensor] | None) -> tuple[bytes, bytes] | None:
    """The (xml, bin) bytes of the OpenVINO int8 network a calibration carries, or None."""
    if calibration is None or not all(k in calibration for k in OPENVINO_KEYS):
        return None
    xml, weights = (calibration[k].to(torch.uint8).numpy().tobytes() for k in OPENVINO_KEYS)
    return xml, weights


def with_openvino_network(calibration: dict[str, torch.Tensor], network: tuple[bytes, bytes]
                          ) -> dict[str, torch.Tensor]:
    """``calibration`` with the (xml, bin) bytes of an OpenVINO int8 network added."""
    return {**calibration, **{k: torch.frombuffer(bytearray(b), dtype=torch.uint8)
                              for k, b in zip(OPENVINO_KEYS, network)}}


def calibrate_network(model: nn.Module, batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """The calibration of a ``SiamNet`` (BatchNorm folded) from ``calibration_crops`` batches
    (exemplars and search crops alternately): one backbone sees both; separate branches each
    see their own crops, the search branch's entries under ``SEARCH_PREFIX``."""
    if getattr(model, "search_backbone", None) is None:
        return calibrate(model.backbone, batches)
    listed = list(batches)
    state = calibrate(model.backbone, listed[0::2])
    search = calibrate(model.search_backbone, listed[1::2])
    return {**state, **{SEARCH_PREFIX + k: v for k, v in search.items()}}


def load_calibration(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a calibration file (tensors only, ``weights_only=True``); errors name the file."""
    path = Path(path)
    if not path.is_file():
        weights = path.with_name(path.name.removesuffix(".int8.pth") + ".pth")
        raise WeightsError(f"no int8 calibration at {path}; make it with `siamfc quantize "
                           f"--weights {weights} --data TRAIN_DIR`, or use fp32/bf16")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"cannot read int8 calibration {path}: {type(exc).__name__}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} is not an int8 calibration (a dict of tensors)")
    return state


def calibration_crops(sequences: list, num_frames: int = 256, batch: int = 16, seed: int = 0,
                      config: "TrackerConfig | None" = None) -> Iterable[torch.Tensor]:
    """Batches of exemplar and search crops (BGR 0-255, (B, 3, S, S)) from random annotated
    frames of ``sequences`` (``TrainSequence``), cut the way the tracker with ``config``
    (default: the paper's) cuts them: search crops at scale steps -1, 0 or +1 with up to a
    quarter-target shift."""
    import cv2

    from ..config import TrackerConfig
    from ..crops import crop_batch
    from ..staging import frame_to_tensor
    from ..geometry import context_size

    cfg = config if config is not None else TrackerConfig()
    exemplar_size, instance_size = cfg.exemplar_size, cfg.instance_size
    rng = np.random.default_rng(seed)
    pool = [(s, i) for s in sequences for i in np.flatnonzero(s.valid())]
    if not pool:
        raise ValueError("no annotated frames to calibrate on")
    picks = rng.choice(len(pool), size=min(num_frames, len(pool)), replace=False)
    zs: list[torch.Tensor] = []
    xs: list[torch.Tensor] = []
    for k in picks:
        seq, i = pool[k]
        img = cv2.imread(seq.frames[i], cv2.IMREAD_COLOR)
        if img is None:
            continue
        x, y, w, h = seq.boxes[i]
        c = np.array([x + w / 2, y + h / 2])
        sz = float(context_size(np.array([w]), np.array([h]), cfg.context)[0])
        t = frame_to_tensor(img)
        zs.append(crop_batch(t, torch.from_numpy(c[None]), torch.tensor([sz]), exemplar_size))
        shift = c + rng.uniform(-0.25, 0.25, 2) * [w, h]
        side = sz * instance_size / exemplar_size * cfg.scale_step ** rng.integers(-1, 2)
        xs.append(crop_batch(t, torch.from_numpy(shift[None]), torch.tensor([side]), instance_size))
        if len(xs) == batch:
            yield torch.cat(zs)
            yield torch.cat(xs)
            zs, xs = [], []
    if xs:
        yield torch.cat(zs)
        yield torch.cat(xs)
