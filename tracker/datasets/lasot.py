"""LaSOT layout: ``<class>/<class>-N/img/*.jpg`` + ``groundtruth.txt``, ``full_occlusion.txt``
and ``out_of_view.txt`` (comma-separated 0/1 per frame; either set -> NaN row, left out of
the metrics). Boxes are used as stored, like the got10k toolkit."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import DatasetError, Sequence, match_frames, read_boxes
from .otb import _image_files


def _flags(path: Path, n: int) -> np.ndarray:
    if not path.is_file():
        return np.zeros(n, bool)
    text = path.read_text().replace("\n", ",")
    values = np.array([int(float(v)) for v in text.split(",") if v.strip()], dtype=np.int64)
    out = np.zeros(n, bool)
    out[: min(n, len(values))] = values[:n].astype(bool)
    return out


def read_lasot(root: str | os.PathLike, errors: list[str] | None = None) -> list[Sequence]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"LaSOT root not found: {root}")
    seq_dirs = sorted(p for c in root.iterdir() if c.is_dir() for p in c.iterdir()
                      if (p / "groundtruth.txt").is_file())
    out = []
    for seq_dir in seq_dirs:
        try:
            gt_file = seq_dir / "groundtruth.txt"
            boxes = read_boxes(gt_file)
            absent = _flags(seq_dir / "full_occlusion.txt", len(boxes)) | \
                _flags(seq_dir / "out_of_view.txt", len(boxes))
            boxes[absent] = np.nan
            out.append(match_frames(seq_dir.name, _image_files(seq_dir / "img"), boxes, gt_file))
        except (DatasetError, OSError, ValueError) as exc:
            if errors is None:
                raise
            errors.append(str(exc))
    return out
