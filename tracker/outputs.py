"""Box files: CSV ``frame,x,y,w,h,score`` written and flushed row by row, so whatever was
tracked survives an interrupted run."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from types import TracebackType
from typing import Sequence


class BoxCSVWriter:
    """Context manager writing one row per frame: frame (0-based), x, y, w, h (0-based px), score."""

    HEADER = ("frame", "x", "y", "w", "h", "score")

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh)
        self._writer.writerow(self.HEADER)
        self.rows = 0

    def write(self, frame: int, box: Sequence[float], score: float) -> None:
        self._writer.writerow([frame, *(f"{v:.3f}" for v in box), f"{score:.4f}"])
        self._fh.flush()
        self.rows += 1

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> "BoxCSVWriter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_box_csv(path: str | os.PathLike) -> list[dict[str, float]]:
    """Read back a ``BoxCSVWriter`` file as a list of dicts of floats."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]
