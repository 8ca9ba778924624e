"""Frame sources (video file, image folder, camera or stream URL), a background reader, and
sinks (video file, image folder), all context managers.

Sources yield BGR uint8 (H, W, 3) frames and raise ``SourceError`` naming the file and
frame when something cannot be read.
"""
from __future__ import annotations

import os
import queue
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Iterable, Iterator

import cv2
import numpy as np

from ..errors import SourceError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
STREAM_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


def is_live(source: str | int | os.PathLike) -> bool:
    """True for a camera index (``0``) or a stream URL (rtsp://, http://, ...)."""
    text = str(source)
    return isinstance(source, int) or text.isdigit() or text.lower().startswith(STREAM_PREFIXES)


@contextmanager
def quiet_opencv() -> Iterator[None]:
    """OpenCV's own log lines off for a moment: probing a missing camera or an odd file prints
    a dozen ``[ WARN]``/``[ERROR]`` lines, and our ``SourceError`` says in one line what failed."""
    log = getattr(getattr(cv2, "utils", None), "logging", None)
    if log is None:
        yield
        return
    previous = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        log.setLogLevel(previous)


def _open_capture(target: int | str) -> cv2.VideoCapture:
    with quiet_opencv():
        return cv2.VideoCapture(target)


class FrameSource:
    """Open ``source``: a camera index ("0") or stream URL, a video file, or a folder of
    images (sorted by name). Use as a context manager; iterate for frames. ``len()`` is the
    frame count when known (files and folders), ``fps`` the frame rate (30 when unknown)."""

    def __init__(self, source: str | int | os.PathLike) -> None:
        self.source = str(source)
        self._cap: cv2.VideoCapture | None = None
        self._images: list[str] | None = None
        self.is_camera = is_live(source)
        if self.is_camera:
            target: int | str = int(self.source) if self.source.isdigit() else self.source
            self._cap = _open_capture(target)
            if not self._cap.isOpened():
                what = f"camera {target}" if isinstance(target, int) else f"stream {target}"
                raise SourceError(f"{what} could not be opened; check that it is connected "
                                  "(and not used by another program), or try another "
                                  + ("camera index" if isinstance(target, int) else "URL"))
        else:
            path = Path(self.source)
            if path.is_dir():
                self._images = sorted(str(p) for p in path.iterdir()
                                      if p.suffix.lower() in IMAGE_EXTENSIONS)
                if not self._images:
                    raise SourceError(f"{path}: folder holds no images ({', '.join(IMAGE_EXTENSIONS)})")
            elif path.is_file():
                self._cap = _open_capture(str(path))
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
        expected = len(self)
        index = 0
        while True:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                if self.is_camera:
                    raise SourceError(f"camera {self.source} stopped delivering frames "
                                      f"after frame {index}", frame_index=index)
                # container frame counts can be a little off; far fewer frames means damage
                if expected and index < expected - max(2, expected // 100):
                    raise SourceError(f"{self.source}: no frame could be decoded after frame "
                                      f"{index - 1} of the {expected} the file announces; it "
                                      "may be truncated or corrupt", frame_index=index)
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


class BackgroundReader:
    """Reads ``frames`` in a background thread; iterate for ``(index, frame)``.

    ``latest=False`` (files): a bounded prefetch queue, every frame in order, so decoding runs
    ahead of tracking. ``latest=True`` (live feeds): only the newest frame is kept and stale
    ones are dropped (``dropped`` counts them), so the tracker never lags behind the camera.
    An error in the reader is raised by the iterator after the frames read before it;
    ``timeout`` (s) bounds the wait for a frame, so a silent camera cannot hang the caller.
    """

    _END = object()

    def __init__(self, frames: Iterable[np.ndarray], latest: bool = False, prefetch: int = 8,
                 timeout: float | None = None, name: str = "source") -> None:
        self.latest = latest
        self.timeout = timeout
        self.name = name
        self.dropped = 0
        self._stop = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=1 if latest else max(1, prefetch))
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, args=(iter(frames),), daemon=True,
                                        name=f"siamfc-reader-{name}")
        self._thread.start()

    def _put(self, item: object) -> bool:
        """Queue ``item``; in latest mode a frame replaces a frame not yet taken (the end or an
        error waits for the last frame to be taken). False when stopped."""
        replace = self.latest and isinstance(item, tuple)
        while not self._stop.is_set():
            if replace:
                with self._lock:
                    try:
                        self._queue.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass
                    self._queue.put_nowait(item)
                return True
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, it: Iterator[np.ndarray]) -> None:
        index = 0
        try:
            for frame in it:
                if not self._put((index, frame)):
                    return
                index += 1
        except BaseException as exc:   # delivered to the consumer, raised there
            self._put(exc)
            return
        self._put(self._END)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        last = -1
        while True:
            start = time.monotonic()
            while True:
                try:
                    item = self._queue.get(timeout=0.1)
                    break
                except queue.Empty:
                    if self.timeout is not None and time.monotonic() - start > self.timeout:
                        raise SourceError(f"{self.name}: no frame for {self.timeout:.0f} s after "
                                          f"frame {last}; is the camera still connected?",
                                          frame_index=last + 1) from None
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            last = item[0]
            yield item

    def close(self, join_timeout: float = 2.0) -> None:
        """Stop the thread (waits up to ``join_timeout`` s for a read in progress)."""
        self._stop.set()
        self._thread.join(join_timeout)

    def __enter__(self) -> "BackgroundReader":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class VideoSink:
    """Write BGR frames to a video file; the writer opens on the first frame (its size) and
    is released on exit. The codec follows the extension (.mp4 -> mp4v, .avi -> MJPG), falling
    back to the next candidate the installed OpenCV can open."""

    CODECS = {".mp4": ("mp4v", "avc1"), ".m4v": ("mp4v", "avc1"), ".mov": ("mp4v", "avc1"),
              ".avi": ("MJPG", "XVID"), ".mkv": ("MJPG", "XVID")}

    def __init__(self, path: str | os.PathLike, fps: float = 30.0) -> None:
        self.path = self.check(path)
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self._writer: cv2.VideoWriter | None = None
        self.frames_written = 0

    @classmethod
    def check(cls, path: str | os.PathLike) -> Path:
        """``path`` if its extension is one this sink writes, else ``ValueError`` naming them
        (before anything is tracked)."""
        path = Path(path)
        if path.suffix.lower() not in cls.CODECS:
            raise ValueError(f"{path}: cannot write a video with extension "
                             f"{path.suffix.lower() or '(none)'!r}; use one of "
                             f"{', '.join(VIDEO_EXTENSIONS)}")
        return path

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            h, w = frame.shape[:2]
            codecs = self.CODECS[self.path.suffix.lower()]
            for codec in codecs:
                writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*codec), self.fps, (w, h))
                if writer.isOpened():
                    self._writer, self.codec = writer, codec
                    break
                writer.release()
            else:
                raise OSError(f"{self.path}: cannot open a video writer with {', '.join(codecs)} "
                              "(is the folder writable? try .avi)")
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


VIDEO_EXTENSIONS = tuple(VideoSink.CODECS)     # what VideoSink writes


class ImageFolderSink:
    """Write BGR frames as numbered images (``000000.jpg`` ...) into ``folder``, or under the
    given ``names``; same interface as ``VideoSink``."""

    def __init__(self, folder: str | os.PathLike, ext: str = ".jpg",
                 names: list[str] | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ext = ext
        self.names = names
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        i = self.frames_written
        name = self.names[i] if self.names is not None and i < len(self.names) else f"{i:06d}{self.ext}"
        path = self.folder / name
        if not cv2.imwrite(str(path), frame):
            raise OSError(f"{path}: cannot write image (is the folder writable?)")
        self.frames_written += 1

    def close(self) -> None:
        pass

    def __enter__(self) -> "ImageFolderSink":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
