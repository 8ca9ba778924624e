"""siamfc: a streaming single- and multi-object tracker built on SiamFC (Bertinetto et al. 2016).

Frames are BGR uint8 (H, W, 3); boxes are 0-based (x, y, w, h) float pixels.
"""
from .config import PRESETS, TrackerConfig
from .errors import SourceError, WeightsError
from .model.network import SiamNet
from .siamfc import SiamFCMultiTracker, SiamFCTracker, TrackResult

__version__ = "0.1.0"
__all__ = ["PRESETS", "SiamFCMultiTracker", "SiamFCTracker", "SiamNet", "SourceError",
           "TrackResult", "TrackerConfig", "WeightsError", "__version__"]
