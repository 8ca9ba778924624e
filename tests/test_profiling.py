"""StageTimer: per-frame (lap) stage times for ``siamfc bench``."""
import time

import pytest

from tracker.diagnostics.profiling import StageTimer


@pytest.mark.parametrize("visits", [1, 2, 3])
def test_a_stage_entered_several_times_in_a_frame_counts_once_summed(visits):
    timer = StageTimer(enabled=True)
    for _ in range(4):                       # 4 frames
        for _ in range(visits):
            with timer.stage("crop"):
                time.sleep(0.002)
        timer.lap()
    assert len(timer.times["crop"]) == 4
    median_ms, _ = timer.summary()["crop"]
    assert 2 * visits <= median_ms < 2 * visits + 20


def test_discarded_stage_times_stay_out_of_the_next_lap():
    timer = StageTimer(enabled=True)
    with timer.stage("crop"):          # e.g. init's work
        time.sleep(0.05)
    timer.discard()
    with timer.stage("crop"):
        pass
    timer.lap()
    assert len(timer.times["crop"]) == 1 and timer.times["crop"][0] < 0.05


def test_disabled_timer_records_nothing():
    timer = StageTimer(enabled=False)
    with timer.stage("crop"):
        pass
    timer.lap()
    assert timer.summary() == {}


def test_tracker_stages_add_up_to_the_update(random_weights, small_clip):
    """Every part of update() is inside a stage: their sum is the update time (within 1 ms).

    Work left outside the stages shows in every frame's gap; a busy machine's preemption or a
    garbage collection only in some. So the smallest gap of the frames is held to 1 ms.
    """
    from tracker import SiamFCMultiTracker
    multi = SiamFCMultiTracker.from_pretrained(random_weights, device="cpu")
    multi.init(small_clip.frames[0], [small_clip.boxes[0]])
    multi.timer.enabled = True
    totals = []
    for frame in small_clip.frames[1:6]:
        start = time.perf_counter()
        multi.update(frame)
        totals.append(time.perf_counter() - start)
    per_frame = [sum(v[i] for v in multi.timer.times.values()) for i in range(5)]
    assert {"crop", "backbone", "xcorr", "upsample_peak", "bookkeeping"} <= set(multi.timer.times)
    assert all(staged <= total for staged, total in zip(per_frame, totals))
    assert min(total - staged for staged, total in zip(per_frame, totals)) < 1e-3


def test_busy_load_runs_competitors_only_inside_the_block():
    import multiprocessing

    from tracker.diagnostics.load import busy_load
    before = set(multiprocessing.active_children())
    with busy_load(2, seconds=60):
        running = [p for p in multiprocessing.active_children() if p not in before]
        assert len(running) == 2 and all(p.is_alive() for p in running)
    assert not any(p.is_alive() for p in running)


@pytest.mark.slow
def test_bench_under_load_says_so(random_weights, capsys):
    from tracker.cli import main
    assert main(["bench", "--frames", "2", "--no-opencv", "--device", "cpu", "--load", "1",
                 "--weights", str(random_weights)]) == 0
    assert "competitor processes: 1" in capsys.readouterr().out
