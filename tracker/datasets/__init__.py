"""Benchmark readers: each returns ``Sequence`` objects (frame paths + 0-based ltwh boxes)."""
from __future__ import annotations

import os

from .base import DatasetError, Sequence
from .got10k import read_got10k
from .lasot import read_lasot
from .otb import read_otb
from .uav123 import read_uav123
from .vot import read_vot

READERS = {"otb": read_otb, "got10k": read_got10k, "lasot": read_lasot, "vot": read_vot,
           "uav123": read_uav123}


def read_dataset(root: str | os.PathLike, fmt: str = "otb", errors: list[str] | None = None
                 ) -> list[Sequence]:
    """Read every sequence of a benchmark in layout ``fmt``; broken ones go to ``errors``."""
    try:
        reader = READERS[fmt]
    except KeyError:
        raise ValueError(f"unknown dataset format {fmt!r}; choose from {sorted(READERS)}") from None
    return reader(root, errors=errors)


__all__ = ["DatasetError", "READERS", "Sequence", "read_dataset", "read_got10k", "read_lasot",
           "read_otb", "read_uav123", "read_vot"]
