"""The ``siamfc`` command line: one module per command, shared options, ``main`` dispatches."""
from .main import build_parser, main

__all__ = ["build_parser", "main"]
