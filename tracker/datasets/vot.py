"""VOT layout: ``<seq>/`` or ``<seq>/color/`` images + ``<seq>/groundtruth.txt`` with boxes or
4-corner polygons (8 numbers), turned into axis-aligned boxes; ``list.txt`` optional."""
from __future__ import annotations

import os
from pathlib import Path

from .base import DatasetError, Sequence, match_frames, read_boxes, read_each, sequence_names
from .otb import _image_files


def read_vot_sequence(seq_dir: Path) -> Sequence:
    gt_file = seq_dir / "groundtruth.txt"
    if not gt_file.is_file():
        raise DatasetError(f"{gt_file}: missing")
    frames = _image_files(seq_dir / "color") or _image_files(seq_dir)
    return match_frames(seq_dir.name, frames, read_boxes(gt_file, corners_ok=True), gt_file)


def read_vot(root: str | os.PathLike, errors: list[str] | None = None) -> list[Sequence]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"VOT root not found: {root}")
    return read_each([root / n for n in sequence_names(root)], read_vot_sequence, errors)
