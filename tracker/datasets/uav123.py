"""UAV123 layout: ``data_seq/[UAV123/]<folder>/*.jpg`` and ``anno/[UAV123/]<seq>.txt``
(NaN rows where the target is absent; boxes used as stored, like the got10k toolkit).

A sequence ``<folder>_<k>`` is a frame range of ``<folder>``: the ranges are read from the
benchmark's ``configSeqs.m`` when it is in the root; without it, a sequence whose name is a
folder uses the whole folder, and other sub-sequences are reported as errors.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from .base import DatasetError, Sequence, match_frames, read_boxes
from .otb import _image_files

_CONFIG = re.compile(r"'name'\s*,\s*'([^']+)'\s*,\s*'path'\s*,\s*'([^']+)'\s*,\s*'startFrame'\s*,"
                     r"\s*(\d+)\s*,\s*'endFrame'\s*,\s*(\d+)")


def _sub(root: Path, name: str) -> Path:
    nested = root / name / "UAV123"
    return nested if nested.is_dir() else root / name


def read_config(path: Path) -> dict[str, tuple[str, int, int]]:
    """name -> (folder, first frame, last frame), 1-based inclusive, from configSeqs.m."""
    out = {}
    for name, seq_path, start, end in _CONFIG.findall(path.read_text(errors="replace")):
        folder = Path(seq_path.replace("\\", "/").rstrip("/")).name
        out[name] = (folder, int(start), int(end))
    return out


def read_uav123(root: str | os.PathLike, errors: list[str] | None = None) -> list[Sequence]:
    root = Path(root)
    anno_dir, data_dir = _sub(root, "anno"), _sub(root, "data_seq")
    if not anno_dir.is_dir() or not data_dir.is_dir():
        raise DatasetError(f"{root}: expected anno/ and data_seq/ folders (UAV123 layout)")
    config_file = next(iter(sorted(root.glob("**/configSeqs*.m"))), None)
    config = read_config(config_file) if config_file else {}
    out = []
    for gt_file in sorted(anno_dir.glob("*.txt")):
        name = gt_file.stem
        try:
            if name in config:
                folder, start, end = config[name]
                frames = _image_files(data_dir / folder)[start - 1: end]
            elif (data_dir / name).is_dir():
                frames = _image_files(data_dir / name)
            else:
                raise DatasetError(f"{gt_file}: no folder data_seq/{name}; sub-sequence frame "
                                   "ranges need the benchmark's configSeqs.m in the root")
            out.append(match_frames(name, frames, read_boxes(gt_file), gt_file))
        except (DatasetError, OSError, ValueError) as exc:
            if errors is None:
                raise
            errors.append(str(exc))
    return out
