"""OpenMP's waiting threads, set for the command line before torch loads.

torch's CPU kernels run on GNU OpenMP, whose idle threads spin for about 300,000 iterations
before they sleep. Next to other busy programs those spinning threads take the cores the
work needs: with two busy processes on a 2-core AMD EPYC, a 2-thread update took 230 ms
(median; p90 437) against 156 ms with one thread. Spinning 10,000 iterations instead kept
the quiet update (37.7 against 37.0 ms) and held the loaded one at the one-thread time
(docs/speed.md, "Busy cores"). The variable only works when set before torch's OpenMP
library loads, so the command line sets it first thing; a value the user set wins, and
library users keep OpenMP's defaults.
"""
from __future__ import annotations

import os
import sys

SPIN_COUNT = "10000"


def spin_briefly() -> bool:
    """Set ``GOMP_SPINCOUNT`` to ``SPIN_COUNT`` unless the user set it (or
    ``OMP_WAIT_POLICY``) or torch is loaded already; True when it was set."""
    if "torch" in sys.modules or "GOMP_SPINCOUNT" in os.environ \
            or "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    return True
