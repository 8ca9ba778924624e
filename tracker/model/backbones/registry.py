"""The backbone registry: names (as stored with weights and given to ``--backbone``) ->
constructors. Each family module registers its variants with ``register_backbone``.

All backbones take ``(B, 3, H, W)`` float BGR pixels in [0, 255] and say their
``total_stride`` (8, or 16 for ``mobilenetv2_s16``): the tracker and the trainer take it from
the network. AlexNet's have no padding, so a 127 crop gives 6x6 features and a 255 crop 22x22.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

BACKBONES: dict[str, Callable[[], nn.Module]] = {}


def register_backbone(name: str) -> Callable[[Callable[[], nn.Module]], Callable[[], nn.Module]]:
    """Decorator adding a backbone constructor to the registry under ``name``."""

    def wrap(ctor: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        BACKBONES[name] = ctor
        return ctor

    return wrap


def build_backbone(name: str) -> nn.Module:
    """Instantiate a registered backbone by name."""
    try:
        return BACKBONES[name]()
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}") from None
