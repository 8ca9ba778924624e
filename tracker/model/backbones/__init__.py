"""Backbones: one module per family, all registered in one registry (see ``registry.py``)."""
from . import alexnet, litenet, mobilenet  # noqa: F401  (registers the families)
from .registry import BACKBONES, build_backbone, register_backbone

__all__ = ["BACKBONES", "build_backbone", "register_backbone"]
