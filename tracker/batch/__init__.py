"""Batch tracking: one input's loop (``tracking.py``), many inputs as Ray tasks on one machine
or a cluster (``many.py`` over ``cluster.py``; Ray is an optional extra, imported only there).
"""
from .many import TrackerRecipe, track_many
from .tracking import JobReport, TrackJob, track_job

__all__ = ["JobReport", "TrackJob", "TrackerRecipe", "track_job", "track_many"]
