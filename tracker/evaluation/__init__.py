"""OTB-style evaluation: run trackers over benchmark sequences, store and score results."""
from .adapters import available_trackers, make_tracker
from .experiment import Experiment

__all__ = ["Experiment", "available_trackers", "make_tracker"]
