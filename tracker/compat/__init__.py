"""Drop-in shapes of other libraries' tracker APIs over ``SiamFCTracker``."""
from .opencv import TrackerSiamFC, TrackerSiamFCParams

__all__ = ["TrackerSiamFC", "TrackerSiamFCParams"]
