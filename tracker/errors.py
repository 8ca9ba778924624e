"""Exceptions with messages meant for people: what went wrong, where, and what to do."""
from __future__ import annotations


class WeightsError(RuntimeError):
    """A weights file is missing, unreadable, or does not fit the network."""


class SourceError(RuntimeError):
    """A video, image folder or camera could not be opened or read."""

    def __init__(self, message: str, frame_index: int | None = None) -> None:
        super().__init__(message)
        self.frame_index = frame_index
