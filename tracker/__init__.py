"""siamfc: a streaming single- and multi-object tracker built on SiamFC (Bertinetto et al. 2016).

Frames are BGR uint8 (H, W, 3); boxes are 0-based (x, y, w, h) float pixels.

The names below load on first use, so that the command line can set OpenMP's wait policy
before torch loads (``cli/openmp.py``); ``from tracker import SiamFCTracker`` works as usual.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
_WHERE = {"PRESETS": ".config", "TrackerConfig": ".config", "TrackerSiamFC": ".compat",
          "SourceError": ".errors", "WeightsError": ".errors", "SiamNet": ".model.network",
          "SiamFCMultiTracker": ".siamfc", "SiamFCTracker": ".siamfc", "TrackResult": ".siamfc"}
__all__ = sorted(_WHERE) + ["__version__"]

if TYPE_CHECKING:
    from .compat import TrackerSiamFC
    from .config import PRESETS, TrackerConfig
    from .errors import SourceError, WeightsError
    from .model.network import SiamNet
    from .siamfc import SiamFCMultiTracker, SiamFCTracker, TrackResult


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tracker' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
