"""OTB layout: ``<Seq>/img/NNNN.jpg`` and ``<Seq>/groundtruth_rect[.K].txt`` (1-based boxes).

Quirks handled (following the GOT-10k toolkit, documented where we differ):
- several targets: ``groundtruth_rect.txt`` + ``.2.txt`` (or ``.1.txt`` + ``.2.txt``) become
  ``Seq-1``, ``Seq-2`` (``groundtruth_rect.txt`` is target 1; got10k names them Seq.1/Seq.2 in
  file-name order); empty annotation files are ignored;
- frame ranges of OTB-100: David 300-770, Football1 1-74, Freeman3 1-460, Freeman4 1-283,
  Diving 1-215 (as got10k; Tiger1 is used whole, as got10k does);
- images starting at another number or with other digit counts (BlurCar*, Board): the sorted
  image list is used, and ground truth with fewer lines than images uses the first images.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..geometry import one_based_to_zero_based
from .base import DatasetError, Sequence, match_frames, read_boxes

FRAME_RANGES = {"david": (300, 770), "football1": (1, 74), "freeman3": (1, 460),
                "freeman4": (1, 283), "diving": (1, 215)}
_IMAGES = (".jpg", ".jpeg", ".png", ".bmp")


def _image_files(folder: Path) -> list[str]:
    files = [p for p in folder.iterdir() if p.suffix.lower() in _IMAGES] if folder.is_dir() else []

    def key(p: Path) -> tuple[int, str]:
        digits = re.findall(r"\d+", p.stem)
        return (int(digits[-1]) if digits else -1, p.name)

    return [str(p) for p in sorted(files, key=key)]


def _gt_files(seq_dir: Path) -> list[tuple[int, Path]]:
    """(target number, file) for the non-empty ground-truth files of a sequence."""
    found = []
    for p in seq_dir.glob("groundtruth_rect*.txt"):
        m = re.fullmatch(r"groundtruth_rect(?:\.(\d+))?\.txt", p.name)
        if not m or not p.read_text(errors="replace").strip():
            continue
        found.append((int(m.group(1)) if m.group(1) else 0, p))
    found.sort()
    if len(found) > 1 and found[0][0] == 0:          # .txt + .2.txt: the plain file is target 1
        found[0] = (1, found[0][1])
    return found


def read_otb_sequence(seq_dir: str | os.PathLike) -> list[Sequence]:
    """All targets of one OTB sequence folder (one ``Sequence`` each)."""
    seq_dir = Path(seq_dir)
    name = seq_dir.name
    gts = _gt_files(seq_dir)
    if not gts:
        raise DatasetError(f"{seq_dir}: no groundtruth_rect*.txt")
    frames = _image_files(seq_dir / "img")
    if not frames:
        raise DatasetError(f"{seq_dir / 'img'}: no images")
    lo_hi = FRAME_RANGES.get(name.lower())
    if lo_hi is not None:
        frames = frames[lo_hi[0] - 1: lo_hi[1]]
    out = []
    for number, gt_file in gts:
        boxes = one_based_to_zero_based(read_boxes(gt_file))
        seq_name = name if len(gts) == 1 else f"{name}-{number}"
        out.append(match_frames(seq_name, frames, boxes, gt_file))
    return out


def read_otb(root: str | os.PathLike, names: list[str] | None = None,
             errors: list[str] | None = None) -> list[Sequence]:
    """Every sequence under ``root`` (sorted), or those in ``names`` (``Seq`` or ``Seq-2``).

    Broken sequences raise unless ``errors`` is a list, which then collects the messages.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"OTB root not found: {root}")
    seq_dirs = sorted(p for p in root.iterdir() if p.is_dir() and any(p.glob("groundtruth_rect*.txt")))
    sequences: list[Sequence] = []
    for seq_dir in seq_dirs:
        try:
            sequences.extend(read_otb_sequence(seq_dir))
        except (DatasetError, OSError) as exc:
            if errors is None:
                raise
            errors.append(str(exc))
    if names:
        wanted = set(names)
        sequences = [s for s in sequences if s.name in wanted or s.name.split("-")[0] in wanted]
    return sequences
