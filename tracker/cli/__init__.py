"""The ``siamfc`` command line: one module per command, shared options, ``main`` dispatches.

Loading it first sets OpenMP's spin for the command line's process (``openmp.py``): that has
to happen before torch loads, and the ``siamfc`` entry point loads this package first."""
from .openmp import spin_briefly

spin_briefly()

from .main import build_parser, main  # noqa: E402  (after the spin is set)

__all__ = ["build_parser", "main"]
