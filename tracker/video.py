"""Frame sources (video file, image folder, camera) and video sinks, as context managers.

Sources yield BGR uint8 (H, W, 3) frames and raise ``SourceError`` naming the file and
frame when something cannot be read.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Iterator

import cv2
import numpy as np

from .errors import SourceError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class FrameSource:
    """Open ``source``: a camera index ("0"), a video file, or a folder of images (sorted by
    name). Use as a context manager; iterate for frames. ``len()`` is the frame count when
    known (files and folders), ``fps`` the frame rate (30 when unknown)."""

    def __init__(self, source: str | int | os.PathLike) -> None:
        self.source = str(source)
        self._cap: cv2.VideoCapture | None = None
        self._images: list[str] | None = None
        self.is_camera = isinstance(source, int) or self.source.isdigit()
        if self.is_camera:
            index = int(self.source)
            self._cap = cv2.VideoCapture(index)
            if not self._cap.isOpened():
                raise SourceError(f"camera {index} could not be opened; check that it is connected "
                                  "and not used by another program")
        else:
            path = Path(self.source)
            if path.is_dir():
                self._images = sorted(str(p) for p in path.iterdir()
                                      if p.suffix.lower() in IMAGE_EXTENSIONS)
                if not self._images:
                    raise SourceError(f"{path}: folder holds no images ({', '.join(IMAGE_EXTENSIONS)})")
            elif path.is_file():
                self._cap = cv2.VideoCapture(str(path))
                if not self._cap.isOpened():
                    raise SourceError(f"{path}: cannot open as a video (unsupported or corrupt file)")
            else:
                raise SourceError(f"{path}: no such file or folder")

    @property
    def fps(self) -> float:
        if self._cap is not None:
            fps = self._cap.get(cv2.CAP_PROP_FPS)
            if fps and np.isfinite(fps) and 1 <= fps <= 1000:
                return float(fps)
        return 30.0

    def __len__(self) -> int:
        if self._images is not None:
            return len(self._images)
        if self._cap is not None and not self.is_camera:
            return max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        return 0

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._images is not None:
            for i, name in enumerate(self._images):
                frame = cv2.imread(name, cv2.IMREAD_COLOR)
                if frame is None:
                    raise SourceError(f"{name}: cannot read image (frame {i}); it may be corrupt",
                                      frame_index=i)
                yield frame
            return
        assert self._cap is not None
        index = 0
        while True:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                if self.is_camera:
                    raise SourceError(f"camera {self.source} stopped delivering frames "
                                      f"after frame {index}", frame_index=index)
                return
            yield frame
            index += 1

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class VideoSink:
    """Write BGR frames to a video file; the writer opens on the first frame (its size) and
    is released on exit. The codec follows the extension (.mp4 -> mp4v, .avi -> MJPG)."""

    CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}

    def __init__(self, path: str | os.PathLike, fps: float = 30.0) -> None:
        self.path = Path(path)
        ext = self.path.suffix.lower()
        if ext not in self.CODECS:
            raise ValueError(f"{self.path}: unsupported video extension {ext!r}; "
                             f"use one of {sorted(self.CODECS)}")
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self._writer: cv2.VideoWriter | None = None
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            h, w = frame.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*self.CODECS[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (w, h))
            if not self._writer.isOpened():
                raise OSError(f"{self.path}: cannot open a video writer (is the folder writable?)")
        self._writer.write(frame)
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
