"""Training sequences: frame files, original frame indices and 0-based (x, y, w, h) boxes."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets.base import sequence_names

_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class TrainSequence:
    """One annotated track: ``frames[i]`` is a path, ``indices[i]`` its original frame number,
    ``boxes[i]`` its 0-based (x, y, w, h) box (rows with NaN or non-positive size are invalid)."""

    name: str
    frames: tuple[str, ...]
    indices: np.ndarray  # (N,) int64
    boxes: np.ndarray    # (N, 4) float64

    def valid(self) -> np.ndarray:
        """(N,) bool: boxes that are finite with positive size."""
        b = self.boxes
        return np.all(np.isfinite(b), axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0)


def _frame_number(path: str, fallback: int) -> int:
    digits = re.findall(r"\d+", Path(path).stem)
    return int(digits[-1]) if digits else fallback


def read_box_file(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Read one box per line (commas, tabs or spaces). Bad lines become NaN rows.

    Returns the (N, 4) array and a list of problems ("file:line: why") for the caller to log.
    """
    rows: list[list[float]] = []
    problems: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.strip()
            if not text:
                continue
            parts = [p for p in re.split(r"[,\s]+", text) if p]
            try:
                values = [float(p) for p in parts]
            except ValueError:
                values = []
            if len(values) != 4:
                problems.append(f"{path}:{lineno}: expected 4 numbers, got {text!r}")
                rows.append([np.nan] * 4)
                continue
            rows.append(values)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4), problems


def read_got_style(root: str | os.PathLike) -> tuple[list[TrainSequence], list[str]]:
    """Read a GOT-10k-like root: ``list.txt`` (optional) and ``<seq>/*.jpg`` + ``groundtruth.txt``.

    Frame numbers come from the file names (so gaps between files are real frame gaps).
    Returns the sequences and a list of problems (skipped sequences, bad lines).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"training data folder not found: {root}")
    names = sequence_names(root)
    sequences: list[TrainSequence] = []
    problems: list[str] = []
    for name in names:
        seq_dir = root / name
        gt_file = seq_dir / "groundtruth.txt"
        if not gt_file.is_file():
            problems.append(f"{seq_dir}: no groundtruth.txt, skipped")
            continue
        frames = sorted(str(p) for p in seq_dir.iterdir() if p.suffix.lower() in _IMAGE_EXT)
        boxes, bad = read_box_file(gt_file)
        problems.extend(bad)
        if not frames or len(boxes) == 0:
            problems.append(f"{seq_dir}: no frames or no boxes, skipped")
            continue
        if len(boxes) != len(frames):
            problems.append(f"{gt_file}: {len(boxes)} boxes for {len(frames)} frames; "
                            f"using the first {min(len(boxes), len(frames))}")
            n = min(len(boxes), len(frames))
            frames, boxes = frames[:n], boxes[:n]
        absence = seq_dir / "absence.label"
        if absence.is_file():
            flags = np.loadtxt(absence, dtype=np.int64, ndmin=1)[: len(boxes)]
            boxes[: len(flags)][flags.astype(bool)] = np.nan
        indices = np.array([_frame_number(f, i) for i, f in enumerate(frames)], dtype=np.int64)
        seq = TrainSequence(name, tuple(frames), indices, boxes)
        if seq.valid().sum() < 1:
            problems.append(f"{seq_dir}: no valid boxes, skipped")
            continue
        sequences.append(seq)
    return sequences, problems
