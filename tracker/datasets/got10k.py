"""GOT-10k layout: ``list.txt`` (optional), ``<seq>/*.jpg``, ``groundtruth.txt`` (x,y,w,h as
stored, like the got10k toolkit), optional ``absence.label`` (1 = target absent -> NaN row)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import DatasetError, Sequence, match_frames, read_boxes
from .otb import _image_files


def read_got10k(root: str | os.PathLike, errors: list[str] | None = None) -> list[Sequence]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"GOT-10k root not found: {root}")
    list_file = root / "list.txt"
    if list_file.is_file():
        names = [n.strip() for n in list_file.read_text().splitlines() if n.strip()]
    else:
        names = sorted(p.name for p in root.iterdir() if (p / "groundtruth.txt").is_file())
    out = []
    for name in names:
        try:
            seq_dir = root / name
            gt_file = seq_dir / "groundtruth.txt"
            if not gt_file.is_file():
                raise DatasetError(f"{gt_file}: missing")
            boxes = read_boxes(gt_file)
            absence = seq_dir / "absence.label"
            if absence.is_file():
                flags = np.loadtxt(absence, ndmin=1).astype(bool)[: len(boxes)]
                boxes[: len(flags)][flags] = np.nan
            out.append(match_frames(name, _image_files(seq_dir), boxes, gt_file))
        except (DatasetError, OSError, ValueError) as exc:
            if errors is None:
                raise
            errors.append(str(exc))
    return out
