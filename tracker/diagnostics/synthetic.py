"""A synthetic clip with known boxes: a textured object moving and changing scale over a
textured background, briefly occluded. Used by ``siamfc demo``, tests and benchmarks."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SyntheticClip:
    """frames: (T, H, W, 3) uint8 BGR; boxes: (T, 4) 0-based x, y, w, h of the object."""

    frames: np.ndarray
    boxes: np.ndarray


def _texture(rng: np.random.Generator, h: int, w: int, blur: float) -> np.ndarray:
    noise = rng.random((h, w, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), blur)
    smooth = (smooth - smooth.min()) / (np.ptp(smooth) + 1e-6)
    return smooth


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(height, width, 3) uint8: coarse and fine texture."""
    background = _texture(rng, height, width, 12) * 0.6 + _texture(rng, height, width, 2) * 0.4
    return (background * 200 + 20).astype(np.uint8)


def _object_pattern(rng: np.random.Generator, obj_w: int, obj_h: int) -> np.ndarray:
    """The object, at 4x its ``obj_w`` x ``obj_h`` size: a colourful checker + blobs pattern
    with a dark border (uint8 BGR)."""
    pattern = np.zeros((obj_h * 4, obj_w * 4, 3), np.float32)
    yy, xx = np.mgrid[0:obj_h * 4, 0:obj_w * 4]
    checker = ((xx // 32 + yy // 32) % 2).astype(np.float32)
    pattern[..., 0] = 40 + 180 * checker
    pattern[..., 1] = 200 - 150 * checker
    pattern[..., 2] = 230 * _texture(rng, obj_h * 4, obj_w * 4, 10)[..., 0]
    cv2.rectangle(pattern, (0, 0), (obj_w * 4 - 1, obj_h * 4 - 1), (10, 10, 10), 12)
    return pattern.astype(np.uint8)


def _paste(frame: np.ndarray, pattern: np.ndarray, x0: float, y0: float, w: float, h: float
           ) -> tuple[int, int, int, int]:
    """Draw ``pattern`` resized to w x h with its top-left at (x0, y0), clipped to the frame;
    returns the drawn box (x, y, w, h) in whole px (before clipping)."""
    height, width = frame.shape[:2]
    patch = cv2.resize(pattern, (max(1, int(round(w))), max(1, int(round(h)))),
                       interpolation=cv2.INTER_AREA)
    px, py = int(round(x0)), int(round(y0))
    ph, pw = patch.shape[:2]
    sx0, sy0 = max(0, -px), max(0, -py)
    dx0, dy0 = max(0, px), max(0, py)
    dx1, dy1 = min(width, px + pw), min(height, py + ph)
    if dx1 > dx0 and dy1 > dy0:
        frame[dy0:dy1, dx0:dx1] = patch[sy0:sy0 + dy1 - dy0, sx0:sx0 + dx1 - dx0]
    return px, py, pw, ph


def make_shape_clip(num_frames: int = 60, size: tuple[int, int] = (480, 360), ratio: float = 3.0,
                    side: float = 64.0, seed: int = 0) -> SyntheticClip:
    """A clip whose object changes shape: its aspect ratio h / w goes from 1 to ``ratio``
    (geometrically, at constant area ``side`` ** 2) over ``num_frames`` frames while it
    drifts right. ``size`` is (width, height). A box of fixed aspect ratio cannot follow it."""
    width, height = size
    rng = np.random.default_rng(seed)
    background = _background(rng, height, width)
    pattern = _object_pattern(rng, 64, 64)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    boxes = np.empty((num_frames, 4), np.float64)
    for t in range(num_frames):
        r = ratio ** (t / max(1, num_frames - 1))
        w, h = side / np.sqrt(r), side * np.sqrt(r)
        cx, cy = width * (0.4 + 0.2 * t / max(1, num_frames - 1)), height / 2
        frame = background.copy()
        boxes[t] = _paste(frame, pattern, cx - (w - 1) / 2, cy - (h - 1) / 2, w, h)
        frames[t] = frame
    return SyntheticClip(frames, boxes)


def make_clip(num_frames: int = 120, size: tuple[int, int] = (640, 360), seed: int = 0,
              occlusion: bool = True) -> SyntheticClip:
    """Render the clip. ``size`` is (width, height); the object is about 70x50 px, moves on a
    smooth loop, scales between 0.7x and 1.4x, and (``occlusion``) a grey bar covers it for
    about 6% of the frames around the middle."""
    width, height = size
    rng = np.random.default_rng(seed)
    background = _background(rng, height, width)
    obj_w, obj_h = 72, 52
    pattern = _object_pattern(rng, obj_w, obj_h)

    frames = np.empty((num_frames, height, width, 3), np.uint8)
    boxes = np.empty((num_frames, 4), np.float64)
    occ_start, occ_len = int(num_frames * 0.55), max(2, int(num_frames * 0.06))
    for t in range(num_frames):
        phase = 2 * np.pi * t / max(1, num_frames)
        scale = 1.05 + 0.35 * np.sin(phase * 1.5)
        w, h = obj_w * scale, obj_h * scale
        cx = width / 2 + (width * 0.3) * np.sin(phase)
        cy = height / 2 + (height * 0.25) * np.sin(2 * phase)
        x0, y0 = cx - (w - 1) / 2, cy - (h - 1) / 2
        frame = background.copy()
        px, py, pw, ph = _paste(frame, pattern, x0, y0, w, h)
        if occlusion and occ_start <= t < occ_start + occ_len:
            bar_x = int(cx - w * 0.4)
            cv2.rectangle(frame, (bar_x, 0), (bar_x + int(w * 0.9), height - 1), (128, 128, 128), -1)
        frames[t] = frame
        boxes[t] = (px, py, pw, ph)
    return SyntheticClip(frames, boxes)


def make_texture_clip(num_frames: int = 60, size: tuple[int, int] = (640, 360),
                      patch: tuple[int, int] = (60, 40), start: tuple[float, float] = (200.0, 120.0),
                      step: tuple[float, float] = (3.0, 1.0), seed: int = 0) -> SyntheticClip:
    """A patch of uniform noise moving over a background of uniform noise: only the patch's
    exact pattern tells it apart (no edge, colour or texture statistics do). ``size`` and
    ``patch`` are (width, height); the patch starts with its top-left at ``start`` and moves
    by ``step`` (x, y) px per frame."""
    width, height = size
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    pattern = rng.integers(0, 256, (patch[1], patch[0], 3), dtype=np.uint8)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    boxes = np.empty((num_frames, 4), np.float64)
    for t in range(num_frames):
        x, y = int(round(start[0] + step[0] * t)), int(round(start[1] + step[1] * t))
        frame = background.copy()
        frame[y:y + patch[1], x:x + patch[0]] = pattern
        frames[t] = frame
        boxes[t] = (x, y, patch[0], patch[1])
    return SyntheticClip(frames, boxes)


def write_video(path: str, frames: np.ndarray, fps: float = 30.0) -> None:
    """Write frames (T, H, W, 3) uint8 BGR to ``path`` (mp4v/MJPG chosen by extension)."""
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.lower().endswith(".avi") else "mp4v"))
    writer = cv2.VideoWriter(path, fourcc, fps, (frames.shape[2], frames.shape[1]))
    if not writer.isOpened():
        raise OSError(f"cannot open a video writer for {path}")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
