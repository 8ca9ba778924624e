"""What the command line tells people: one-line messages and progress bars, on stderr.

Every message goes through ``write``, which clears the progress bars first and redraws them
below the message, so a message never shares a line with a bar."""
from __future__ import annotations

import argparse
import sys


def write(message: str) -> None:
    """One line on stderr, on a line of its own even while progress bars are shown: the bars
    on screen are cleared first and redrawn below it (as ``tqdm.write`` does, but a bar still
    waiting out its delay stays hidden)."""
    from tqdm import tqdm
    with tqdm.get_lock():
        shown = [bar for bar in list(getattr(tqdm, "_instances", ())) if _on_screen(bar)]
        for bar in shown:
            bar.clear(nolock=True)
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        for bar in shown:
            bar.refresh(nolock=True)


def _on_screen(bar) -> bool:
    """Whether a tqdm ``bar`` is drawn (enabled, and displayed once its delay was over)."""
    return (not bar.disable and hasattr(bar, "last_print_t")
            and bar.last_print_t >= bar.start_t + bar.delay)


def say(args: argparse.Namespace, message: str, force: bool = False) -> None:
    """A line on stderr (unless --quiet; ``force`` for problems, shown even then)."""
    if force or not getattr(args, "quiet", False):
        write(message)


def progress(total: int | None, desc: str, enabled: bool = True, unit: str = "frame",
             position: int | None = None):
    """A tqdm bar on stderr that disappears when closed (``enabled=False``: a silent one). It
    shows only on a terminal (a log gets no bar lines) and only after its first second, so an
    input refused at once leaves nothing but its one-line message."""
    from tqdm import tqdm
    shown = enabled and on_terminal()
    return tqdm(total=total or None, desc=desc, unit=unit, disable=not shown, delay=BAR_DELAY,
                file=sys.stderr, dynamic_ncols=True, leave=False, position=position)


BAR_DELAY = 1.0     # s before a bar shows


def on_terminal() -> bool:
    """Whether stderr is a terminal (progress bars show only there)."""
    return sys.stderr.isatty()
