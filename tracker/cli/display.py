"""The window of ``track`` and ``webcam``: where the view goes and where keys, clicks and drawn
boxes come from, behind the small ``Display`` interface (tests script one; no window opens)."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Protocol

import numpy as np

from ..media.annotate import draw_status


def has_display() -> bool:
    """True when OpenCV windows can probably be shown (a display server and a GUI build)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or
                                                 os.environ.get("WAYLAND_DISPLAY")):
        return False
    import cv2
    info = cv2.getBuildInformation()
    gui = [line for line in info.splitlines() if "GUI:" in line]
    return not (gui and "NONE" in gui[0].upper())


class Display(Protocol):
    """Where the live view goes and where keys and boxes come from."""

    def show(self, frame: np.ndarray) -> None: ...

    def key(self, wait_ms: int) -> int:
        """The key pressed within ``wait_ms`` ms (-1 for none)."""

    def select_box(self, frame: np.ndarray, prompt: str) -> tuple[float, float, float, float] | None:
        """A box drawn by the user on ``frame`` (0-based x, y, w, h), None when cancelled."""

    def clicked(self) -> tuple[int, int] | None:
        """The last mouse click (x, y) since the previous call, if any."""

    def close(self) -> None: ...


class CvDisplay:
    """An OpenCV window."""

    def __init__(self, title: str = "siamfc") -> None:
        import cv2
        self.cv2, self.title = cv2, title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        self._click: tuple[int, int] | None = None
        cv2.setMouseCallback(title, self._on_mouse)

    def _on_mouse(self, event: int, x: int, y: int, flags: int, param: object) -> None:
        if event == self.cv2.EVENT_LBUTTONDOWN:
            self._click = (x, y)

    def show(self, frame: np.ndarray) -> None:
        self.cv2.imshow(self.title, frame)

    def key(self, wait_ms: int) -> int:
        k = self.cv2.waitKey(max(1, wait_ms))
        return -1 if k < 0 else k & 0xFF

    def select_box(self, frame: np.ndarray, prompt: str) -> tuple[float, float, float, float] | None:
        shown = draw_status(frame, prompt + " (drag, then Enter; c cancels)")
        x, y, w, h = self.cv2.selectROI(self.title, shown, showCrosshair=True, fromCenter=False)
        return (float(x), float(y), float(w), float(h)) if w > 0 and h > 0 else None

    def clicked(self) -> tuple[int, int] | None:
        click, self._click = self._click, None
        return click

    def close(self) -> None:
        self.cv2.destroyWindow(self.title)
        self.cv2.waitKey(1)




def open_display(args: argparse.Namespace) -> CvDisplay | None:
    """An OpenCV window unless --no-display or headless."""
    if getattr(args, "no_display", False) or not has_display():
        return None
    return CvDisplay()
