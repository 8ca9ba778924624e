"""Training data readers: GOT-10k-style folders, LaSOT, ILSVRC2015-VID and OTB-style folders,
detected from the layout of each root, and mixed with a sampling weight per root."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..datasets.base import Sequence
from .sequences import TrainSequence, _frame_number, read_got_style


def detect_layout(root: Path) -> str:
    """'vid', 'lasot', 'otb' or 'got10k' from the folder structure."""
    if (root / "Data" / "VID").is_dir() and (root / "Annotations" / "VID").is_dir():
        return "vid"
    subdirs = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    if any((p / "img").is_dir() and any(p.glob("groundtruth_rect*.txt")) for p in subdirs):
        return "otb"
    if any((q / "img").is_dir() and (q / "groundtruth.txt").is_file()
           for p in subdirs for q in p.iterdir() if q.is_dir()):
        return "lasot"
    return "got10k"


def _to_train(seqs: list[Sequence]) -> list[TrainSequence]:
    out = []
    for s in seqs:
        indices = np.array([_frame_number(f, i) for i, f in enumerate(s.frames)], dtype=np.int64)
        if len(np.unique(indices)) != len(indices):
            indices = np.arange(len(s.frames), dtype=np.int64)
        out.append(TrainSequence(s.name, s.frames, indices, s.boxes))
    return [t for t in out if t.valid().any()]


def read_vid(root: Path, split: str = "train") -> tuple[list[TrainSequence], list[str]]:
    """ILSVRC2015-VID: ``Data/VID/<split>/.../<video>/NNNNNN.JPEG`` with
    ``Annotations/VID/<split>/.../<video>/NNNNNN.xml``; one sequence per (video, trackid)."""
    ann_root = root / "Annotations" / "VID" / split
    data_root = root / "Data" / "VID" / split
    problems: list[str] = []
    sequences: list[TrainSequence] = []
    videos = sorted({p.parent for p in ann_root.rglob("*.xml")})
    for video in videos:
        rel = video.relative_to(ann_root)
        xmls = sorted(video.glob("*.xml"))
        tracks: dict[str, dict[int, tuple[str, list[float]]]] = {}
        for xml in xmls:
            frame = data_root / rel / (xml.stem + ".JPEG")
            try:
                tree = ET.parse(xml)
            except ET.ParseError as exc:
                problems.append(f"{xml}: {exc}")
                continue
            for obj in tree.getroot().iter("object"):
                tid = obj.findtext("trackid", "0")
                box = obj.find("bndbox")
                if box is None:
                    continue
                try:
                    x0, x1 = float(box.findtext("xmin")), float(box.findtext("xmax"))
                    y0, y1 = float(box.findtext("ymin")), float(box.findtext("ymax"))
                except (TypeError, ValueError):
                    problems.append(f"{xml}: malformed bndbox for trackid {tid}")
                    continue
                tracks.setdefault(tid, {})[int(xml.stem)] = (str(frame), [x0, y0, x1 - x0 + 1, y1 - y0 + 1])
        for tid, frames in sorted(tracks.items()):
            idx = sorted(frames)
            seq = TrainSequence(f"{rel.as_posix()}/{tid}", tuple(frames[i][0] for i in idx),
                                np.array(idx, dtype=np.int64),
                                np.array([frames[i][1] for i in idx], dtype=np.float64))
            if seq.valid().any():
                sequences.append(seq)
    return sequences, problems


def read_training_root(root: str | os.PathLike) -> tuple[list[TrainSequence], list[str]]:
    """Sequences of one root in any supported layout, and the problems met (skipped parts)."""
    from ..datasets import read_lasot, read_otb

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"training data folder not found: {root}")
    layout = detect_layout(root)
    if layout == "vid":
        return read_vid(root)
    if layout in ("otb", "lasot"):
        errors: list[str] = []
        seqs = read_otb(root, errors=errors) if layout == "otb" else read_lasot(root, errors=errors)
        return _to_train(seqs), errors
    return read_got_style(root)


def read_training_roots(roots: list[str], weights: list[float] | None = None
                        ) -> tuple[list[TrainSequence], np.ndarray | None, list[str]]:
    """Mix several roots: a root is picked with probability proportional to its weight, then a
    sequence uniformly within it. Returns sequences, per-sequence weights (None: uniform over
    sequences, for a single root without a weight) and problems."""
    if weights is not None and len(weights) != len(roots):
        raise ValueError(f"{len(weights)} data weights for {len(roots)} data roots")
    all_seqs: list[TrainSequence] = []
    seq_weights: list[float] = []
    problems: list[str] = []
    for i, root in enumerate(roots):
        seqs, probs = read_training_root(root)
        problems.extend(probs)
        if not seqs:
            problems.append(f"{root}: no usable sequences")
            continue
        w = 1.0 if weights is None else float(weights[i])
        if not (w > 0 and np.isfinite(w)):
            raise ValueError(f"data weight for {root} must be > 0, got {w}")
        all_seqs.extend(seqs)
        seq_weights.extend([w / len(seqs)] * len(seqs))
    if weights is None and len(roots) == 1:
        return all_seqs, None, problems      # uniform over sequences, no float rounding
    return all_seqs, np.asarray(seq_weights, dtype=np.float64), problems


