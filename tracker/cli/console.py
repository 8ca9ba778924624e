"""What the command line tells people: one-line messages and progress bars, on stderr.

Every message goes through ``write``, which clears the progress bars first and redraws them
below the message, so a message never shares a line with a bar."""
from __future__ import annotations

import argparse
import sys


def write(message: str) -> None:
    """One line on stderr, on a line of its own even while progress bars are shown."""
    from tqdm import tqdm
    tqdm.write(message, file=sys.stderr)


def say(args: argparse.Namespace, message: str, force: bool = False) -> None:
    """A line on stderr (unless --quiet; ``force`` for problems, shown even then)."""
    if force or not getattr(args, "quiet", False):
        write(message)


def progress(total: int | None, desc: str, enabled: bool = True, unit: str = "frame",
             position: int | None = None):
    """A tqdm bar on stderr that disappears when closed (``enabled=False``: a silent one)."""
    from tqdm import tqdm
    return tqdm(total=total or None, desc=desc, unit=unit, disable=not enabled,
                file=sys.stderr, dynamic_ncols=True, leave=False, position=position)
