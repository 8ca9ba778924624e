"""Box files, written frame by frame so that whatever was tracked survives an interrupted run.

Formats (``FORMATS``), all targets of one input in one file unless said otherwise:
- ``csv``: ``frame,target,x,y,w,h,score,lost`` (0-based frame, target id and pixels), flushed
  per frame.
- ``json``: ``{"source", "fps", "frames", "targets": [{"id", "frames", "boxes", "scores",
  "lost"}]}`` (0-based), rewritten atomically every ``JSON_EVERY`` frames and on close.
- ``mot``: MOTChallenge text ``frame,id,x,y,w,h,score,-1,-1,-1``, 1-based frames, ids and
  pixels as in MOTChallenge ground truth, flushed per frame.
- ``otb``: one ``x,y,w,h`` line per frame (0-based pixels, the got10k results layout read by
  ``siamfc eval``), one file per target (``NAME.txt`` for one target, ``NAME_tID.txt`` for
  several), flushed per frame.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from types import TracebackType
from typing import Protocol, Sequence, TextIO

FORMATS = ("csv", "json", "mot", "otb")
EXTENSIONS = {"csv": ".csv", "json": ".json", "mot": ".mot.txt", "otb": ".txt"}
JSON_EVERY = 50


class TargetBox(Protocol):
    """What writers need of a result (``tracker.siamfc.TrackResult`` fits)."""

    box: tuple[float, float, float, float]
    score: float
    target_id: int
    lost: bool


class BoxWriter:
    """Base class: ``write(frame_index, results)`` once per frame; ``close()`` (or ``with``)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.frames = 0

    def write(self, frame: int, results: Sequence[TargetBox]) -> None:
        self._write(frame, results)
        self.frames += 1

    def _write(self, frame: int, results: Sequence[TargetBox]) -> None:
        raise NotImplementedError

    @property
    def written(self) -> list[Path]:
        """The files this writer writes (one, or one per target for some formats)."""
        return [self.path]

    def close(self) -> None:
        """Flush and close; safe to call twice."""

    def __enter__(self) -> "BoxWriter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class _TextWriter(BoxWriter):
    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path)
        self._fh = open(self.path, "w", newline="", encoding="utf-8")

    def _lines(self, frame: int, results: Sequence[TargetBox]) -> list[str]:
        raise NotImplementedError

    def _write(self, frame: int, results: Sequence[TargetBox]) -> None:
        self._fh.write("".join(line + "\n" for line in self._lines(frame, results)))
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


class CSVBoxWriter(_TextWriter):
    """``frame,target,x,y,w,h,score,lost`` rows (0-based), a header first."""

    HEADER = ("frame", "target", "x", "y", "w", "h", "score", "lost")

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path)
        self._fh.write(",".join(self.HEADER) + "\n")
        self._fh.flush()

    def _lines(self, frame: int, results: Sequence[TargetBox]) -> list[str]:
        return [",".join([str(frame), str(r.target_id), *(f"{v:.3f}" for v in r.box),
                          f"{r.score:.4f}", str(int(r.lost))]) for r in results]


class MOTBoxWriter(_TextWriter):
    """MOTChallenge rows ``frame,id,x,y,w,h,score,-1,-1,-1`` (1-based frame, id, pixels)."""

    def _lines(self, frame: int, results: Sequence[TargetBox]) -> list[str]:
        return [f"{frame + 1},{r.target_id + 1},{r.box[0] + 1:.3f},{r.box[1] + 1:.3f},"
                f"{r.box[2]:.3f},{r.box[3]:.3f},{r.score:.4f},-1,-1,-1" for r in results]


class OTBBoxWriter(BoxWriter):
    """One ``x,y,w,h`` line per frame (0-based) and one file per target: ``path`` itself when
    the first frame has a single target, else ``STEM_tID.txt`` per target id (as are targets
    added later, whose files start at the frame they were added)."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path)
        self._files: dict[int, TextIO] = {}
        self.paths: dict[int, Path] = {}
        self._single: bool | None = None

    def _file_for(self, target_id: int) -> TextIO:
        fh = self._files.get(target_id)
        if fh is None:
            stem = self.path.name.removesuffix(".txt")
            path = self.path if self._single and not self._files else \
                self.path.with_name(f"{stem}_t{target_id}.txt")
            fh = self._files[target_id] = open(path, "w", encoding="utf-8")
            self.paths[target_id] = path
        return fh

    @property
    def written(self) -> list[Path]:
        """The per-target files (``path`` itself for a single target or before any frame)."""
        return list(self.paths.values()) or [self.path]

    def _write(self, frame: int, results: Sequence[TargetBox]) -> None:
        if self._single is None:
            self._single = len(results) == 1
        for r in results:
            fh = self._file_for(r.target_id)
            fh.write(",".join(f"{v:.3f}" for v in r.box) + "\n")
            fh.flush()

    def close(self) -> None:
        for fh in self._files.values():
            if not fh.closed:
                fh.close()


class JSONBoxWriter(BoxWriter):
    """All targets' tracks in one JSON document, rewritten atomically (a temporary file
    then a rename) every ``JSON_EVERY`` frames and on close, so the file is always valid."""

    def __init__(self, path: str | os.PathLike, source: str = "", fps: float | None = None) -> None:
        super().__init__(path)
        self.source, self.fps = source, fps
        self._tracks: dict[int, dict[str, list]] = {}
        self._closed = False
        self._dump()

    def _write(self, frame: int, results: Sequence[TargetBox]) -> None:
        for r in results:
            t = self._tracks.setdefault(r.target_id, {"frames": [], "boxes": [], "scores": [],
                                                      "lost": []})
            t["frames"].append(frame)
            t["boxes"].append([round(float(v), 3) for v in r.box])
            t["scores"].append(round(float(r.score), 4))
            t["lost"].append(bool(r.lost))
        if (self.frames + 1) % JSON_EVERY == 0:
            self._dump()

    def _dump(self) -> None:
        doc = {"source": self.source, "fps": self.fps, "frames": self.frames,
               "box_format": "x,y,w,h 0-based pixels",
               "targets": [{"id": k, **v} for k, v in sorted(self._tracks.items())]}
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(tmp, self.path)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._dump()


def format_for_path(path: str | os.PathLike) -> str:
    """The box format an ``--output-boxes`` file name asks for (``.mot.txt`` -> mot,
    ``.txt`` -> otb, ``.csv``, ``.json``)."""
    name = Path(path).name.lower()
    if name.endswith((".mot.txt", ".mot")):
        return "mot"
    for fmt, ext in (("csv", ".csv"), ("json", ".json"), ("otb", ".txt")):
        if name.endswith(ext):
            return fmt
    raise ValueError(f"{path}: cannot tell the box format from the extension; use .csv, .json, "
                     ".mot.txt (MOTChallenge) or .txt (OTB), or give --format")


def open_box_writer(path: str | os.PathLike, fmt: str | None = None, source: str = "",
                    fps: float | None = None) -> BoxWriter:
    """A writer for ``path`` in ``fmt`` (default: from the extension)."""
    fmt = fmt or format_for_path(path)
    if fmt == "csv":
        return CSVBoxWriter(path)
    if fmt == "json":
        return JSONBoxWriter(path, source, fps)
    if fmt == "mot":
        return MOTBoxWriter(path)
    if fmt == "otb":
        return OTBBoxWriter(path)
    raise ValueError(f"unknown box format {fmt!r}; choose from {', '.join(FORMATS)}")


def parse_formats(text: str) -> list[str]:
    """``"csv,json"`` -> ``["csv", "json"]``; unknown names raise ``ValueError``."""
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"--format takes one or more of {','.join(FORMATS)}, got {text!r}")
    return list(dict.fromkeys(formats))


def read_box_csv(path: str | os.PathLike) -> list[dict[str, float]]:
    """Read back a ``CSVBoxWriter`` file as a list of dicts of floats."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]
