"""The command line's thread governor: keeps the thread count whose updates run faster."""
from __future__ import annotations

import pytest
import torch

from tracker.cli.threads import ThreadGovernor


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def drive(governor: ThreadGovernor, cost: dict[int, float], frames: int) -> list[int]:
    """Run ``frames`` fake updates whose duration depends on the thread count in force; returns
    the count each frame ran with."""
    used = []
    clock = [0.0]

    def update():
        used.append(torch.get_num_threads())
        clock[0] += cost[torch.get_num_threads()]

    import tracker.cli.threads as module
    original = module.time.perf_counter
    module.time.perf_counter = lambda: clock[0]
    try:
        for _ in range(frames):
            governor.run(update)
    finally:
        module.time.perf_counter = original
    return used


def test_quiet_machine_keeps_many_threads():
    governor = ThreadGovernor(many=2, every=50, probe=4, first=10)
    used = drive(governor, {2: 0.040, 1: 0.075}, 300)
    assert governor.current == 2 and governor.switches == 0
    assert used.count(1) <= 6 * 5                   # probes only: 5 frames every 55 or so


def test_loaded_machine_moves_to_one_thread_and_back():
    governor = ThreadGovernor(many=2, every=50, probe=4, first=10)
    used = drive(governor, {2: 0.270, 1: 0.077}, 100)
    assert governor.current == 1 and used[-1] == 1 and used.count(2) < 30
    drive(governor, {2: 0.040, 1: 0.075}, 100)       # the competitor is gone
    assert governor.current == 2


def test_one_core_only_calls_through():
    governor = ThreadGovernor(many=1)
    assert not governor.enabled and governor.run(lambda x: x + 1, 1) == 2


def test_a_competitor_starting_later_is_noticed_before_the_next_periodic_probe():
    governor = ThreadGovernor(many=2, every=500, probe=4, first=10)
    drive(governor, {2: 0.040, 1: 0.075}, 100)       # quiet: stays at 2
    assert governor.current == 2
    used = drive(governor, {2: 0.270, 1: 0.077}, 40)  # load starts: long before frame 500
    assert governor.current == 1 and used[-20:] == [1] * 20
