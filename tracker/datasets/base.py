"""The common sequence type of every benchmark reader, and box-file parsing."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import numpy as np


@dataclass(frozen=True)
class Sequence:
    """One tracked target: ordered frame paths and (N, 4) 0-based x, y, w, h boxes
    (NaN rows where the target is absent); ``init``: the (4,) box a tracker starts from when it
    is not ``boxes[0]`` (a robustness run's perturbed one, ``evaluation.robustness``)."""

    name: str
    frames: tuple[str, ...]
    boxes: np.ndarray
    init: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def start_box(self) -> np.ndarray:
        """The (4,) box the tracker is started from: ``init``, else the first ground truth."""
        return self.boxes[0] if self.init is None else self.init


class DatasetError(ValueError):
    """A sequence's files are missing or malformed; the message names the file and line."""


_SPLIT = re.compile(r"[,\s;]+")


def read_boxes(path: str | os.PathLike, corners_ok: bool = False) -> np.ndarray:
    """Read one box per line, fields separated by commas, tabs or spaces (mixed allowed).

    Lines with 8 numbers are 4-corner polygons when ``corners_ok`` (VOT), converted to their
    axis-aligned bounding box. Empty lines and 'NaN' give NaN rows. Other problems raise
    ``DatasetError`` naming the file and line.
    """
    rows = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.strip()
            if not text:
                continue
            parts = [p for p in _SPLIT.split(text) if p]
            try:
                values = np.array([float(p) for p in parts], dtype=np.float64)
            except ValueError:
                raise DatasetError(f"{path}:{lineno}: not numbers: {text!r}") from None
            if len(values) == 8 and corners_ok:
                xs, ys = values[0::2], values[1::2]
                values = np.array([xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()])
            elif len(values) != 4:
                raise DatasetError(f"{path}:{lineno}: expected 4 numbers x,y,w,h, got {len(values)}")
            if np.all(np.isfinite(values)) and (values[2] < 0 or values[3] < 0):
                raise DatasetError(f"{path}:{lineno}: negative width or height: {text!r}")
            rows.append(values)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def match_frames(name: str, frames: list[str], boxes: np.ndarray, gt_file: Path) -> Sequence:
    """Pair frames with boxes: fewer boxes than frames uses the first frames; more is an error."""
    if not frames:
        raise DatasetError(f"{name}: no images found for {gt_file}")
    if len(boxes) == 0:
        raise DatasetError(f"{gt_file}: no boxes")
    if len(boxes) > len(frames):
        raise DatasetError(f"{gt_file}: {len(boxes)} boxes but only {len(frames)} frames")
    return Sequence(name, tuple(frames[: len(boxes)]), boxes)


def sequence_names(root: Path, marker: str = "groundtruth.txt") -> list[str]:
    """Names from ``root/list.txt`` when present, else the sub-folders holding ``marker``."""
    list_file = root / "list.txt"
    if list_file.is_file():
        return [n.strip() for n in list_file.read_text().splitlines() if n.strip()]
    return sorted(p.name for p in root.iterdir() if (p / marker).is_file())


T = TypeVar("T")


def read_each(items: Iterable[T], read_one: Callable[[T], Sequence],
              errors: list[str] | None) -> list[Sequence]:
    """``read_one`` over ``items``; a failure raises, or is collected in ``errors`` when given
    (so one broken sequence does not stop the others)."""
    out = []
    for item in items:
        try:
            out.append(read_one(item))
        except (DatasetError, OSError, ValueError) as exc:
            if errors is None:
                raise
            errors.append(str(exc))
    return out
