"""VOT layout: ``<seq>/`` or ``<seq>/color/`` images + ``<seq>/groundtruth.txt`` with boxes or
4-corner polygons (8 numbers), turned into axis-aligned boxes; ``list.txt`` optional."""
from __future__ import annotations

import os
from pathlib import Path

from .base import DatasetError, Sequence, match_frames, read_boxes
from .otb import _image_files


def read_vot(root: str | os.PathLike, errors: list[str] | None = None) -> list[Sequence]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"VOT root not found: {root}")
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
            frames = _image_files(seq_dir / "color") or _image_files(seq_dir)
            out.append(match_frames(name, frames, read_boxes(gt_file, corners_ok=True), gt_file))
        except (DatasetError, OSError, ValueError) as exc:
            if errors is None:
                raise
            errors.append(str(exc))
    return out
