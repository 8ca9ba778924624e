"""GOT-10k layout: ``list.txt`` (optional), ``<seq>/*.jpg``, ``groundtruth.txt`` (x,y,w,h as
stored, like the got10k toolkit), optional ``absence.label`` (1 = target absent -> NaN row)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import DatasetError, Sequence, match_frames, read_boxes, read_each, sequence_names
from .otb import _image_files


def read_got10k_sequence(seq_dir: Path) -> Sequence:
    gt_file = seq_dir / "groundtruth.txt"
    if not gt_file.is_file():
        raise DatasetError(f"{gt_file}: missing")
    boxes = read_boxes(gt_file)
    absence = seq_dir / "absence.label"
    if absence.is_file():
        flags = np.loadtxt(absence, ndmin=1).astype(bool)[: len(boxes)]
        boxes[: len(flags)][flags] = np.nan
    return match_frames(seq_dir.name, _image_files(seq_dir), boxes, gt_file)


def read_got10k(root: str | os.PathLike, errors: list[str] | None = None) -> list[Sequence]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"GOT-10k root not found: {root}")
    return read_each([root / n for n in sequence_names(root)], read_got10k_sequence, errors)
