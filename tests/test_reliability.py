"""Reliability: degenerate tracking, a short soak, concurrency, damaged files and outputs."""
import concurrent.futures as cf
import multiprocessing
import threading

import cv2
import numpy as np
import pytest
import torch

from tracker.cli import main
from tracker.config import TrackerConfig
from tracker.siamfc import SiamFCMultiTracker
from tracker.diagnostics.soak import rss_mb, run_soak
from tracker.diagnostics.synthetic import make_clip, write_video

H, W = 120, 160


def scenario(kind: str, frames: int = 16):
    """(frames, first box) for a degenerate case, on a textured background."""
    rng = np.random.default_rng(1)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (H, W, 3), dtype=np.uint8), (0, 0), 3)
    obj = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    out = []
    for t in range(frames):
        f = bg.copy()
        if kind == "black":
            f[:] = 0
        elif kind == "noise":
            f = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        else:
            side = {"shrink": max(2, 40 - 3 * t), "grow": 20 + 15 * t}.get(kind, 20)
            cx = {"leave": 80 + 12 * t}.get(kind, 80)
            x0, y0 = int(cx - side / 2), int(60 - side / 2)
            patch = cv2.resize(obj, (side, side), interpolation=cv2.INTER_NEAREST)
            xs, ys = slice(max(0, x0), min(W, x0 + side)), slice(max(0, y0), min(H, y0 + side))
            if xs.stop > xs.start and ys.stop > ys.start:     # (partly) inside the frame
                f[ys, xs] = patch[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
        out.append(f)
    return out, (60.0, 40.0, 40.0, 40.0) if kind == "shrink" else (70.0, 50.0, 20.0, 20.0)


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "redetect"])
def tracker(request, random_weights):
    return SiamFCMultiTracker.from_pretrained(
        random_weights, device="cpu", config=TrackerConfig(redetect=request.param, lost_frames=2))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["shrink", "grow", "leave", "black", "noise"])
def test_degenerate_tracking_stays_finite(tracker, kind):
    frames, box = scenario(kind)
    tracker.init(frames[0], box)
    for frame in frames[1:]:
        (r,) = tracker.update(frame)
        x, y, w, h = r.box
        assert np.all(np.isfinite(r.box)) and np.isfinite(r.score) and 0 <= r.score <= 1
        assert w > 0 and h > 0 and 0 <= x + (w - 1) / 2 <= W - 1 and 0 <= y + (h - 1) / 2 <= H - 1


@pytest.mark.slow
def test_short_soak_memory_is_steady():
    """A couple of thousand updates (small crops, one scale, to keep it quick; thresholds that
    keep the wide search running): RSS stays flat after warm-up."""
    if rss_mb() != rss_mb():
        pytest.skip("no /proc/self/statm on this platform")
    config = TrackerConfig(exemplar_size=87, instance_size=119, num_scales=1, redetect=True,
                           redetect_factor=1.5, lost_threshold=0.97, recover_threshold=0.99)
    # the lite network: memory growth does not depend on the network, and it is quick
    tracker = SiamFCMultiTracker.from_pretrained(device="cpu", config=config, backbone="alexnet_slim")
    report = run_soak(tracker, 1500, size=(96, 64), warmup=300)
    assert report.frames == 1500 and len(report.samples) == 50 and report.lost_frames > 0
    assert report.rss_growth < 20, report.samples


@pytest.mark.slow
def test_soak_cli_writes_its_trace(tmp_path):
    """`siamfc soak --trace` writes frame, RSS and time rows as it goes, then the summary."""
    from tracker.cli import main
    trace = tmp_path / "trace.csv"
    assert main(["soak", "--frames", "100", "--size", "96x64", "--set", "num_scales=1",
                 "--set", "exemplar_size=87", "--set", "instance_size=119", "--no-redetect",
                 "--device", "cpu", "--trace", str(trace), "--quiet"]) == 0
    rows = trace.read_text().splitlines()
    assert rows[0] == "frame,rss_mib,median_ms" and len(rows) == 51
    frame, rss, ms = (float(v) for v in rows[-1].split(","))
    assert frame == 100 and rss > 0 and ms > 0


def _track_clip(weights, seed):
    torch.set_num_threads(1)
    clip = make_clip(num_frames=8, size=(160, 120), seed=seed)
    tracker = SiamFCMultiTracker.from_pretrained(weights, device="cpu")
    tracker.init(clip.frames[0], clip.boxes[0])
    return [tracker.update(f)[0].box for f in clip.frames[1:]]


@pytest.mark.slow
def test_trackers_in_threads_and_processes_do_not_interfere(random_weights):
    threads_before = torch.get_num_threads()
    alone = [_track_clip(random_weights, s) for s in (1, 2)]
    torch.set_num_threads(threads_before)
    assert torch.get_num_threads() == threads_before
    results = {}

    def work(seed):
        clip = make_clip(num_frames=8, size=(160, 120), seed=seed)
        tracker = SiamFCMultiTracker.from_pretrained(random_weights, device="cpu")
        tracker.init(clip.frames[0], clip.boxes[0])
        results[seed] = [tracker.update(f)[0].box for f in clip.frames[1:]]

    workers = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    np.testing.assert_allclose(results[1], alone[0], atol=1e-3)
    np.testing.assert_allclose(results[2], alone[1], atol=1e-3)
    assert torch.get_num_threads() == threads_before         # building/using never changes it
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        procs = list(pool.map(_track_clip, [random_weights] * 2, (1, 2)))
    np.testing.assert_allclose(procs, alone, atol=1e-3)


@pytest.mark.slow
def test_truncated_video_is_an_error_after_its_frames(tmp_path, random_weights, capsys):
    clip = make_clip(num_frames=30, size=(160, 120))
    good = tmp_path / "v.avi"
    write_video(str(good), clip.frames)
    cut = tmp_path / "cut.avi"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    box = ",".join(f"{v:g}" for v in clip.boxes[0])
    code = main(["track", str(cut), "--box", box, "--no-display", "--quiet", "--weights",
                 str(random_weights), "--output-boxes", str(tmp_path / "b.csv")])
    assert code == 2
    err = capsys.readouterr().err
    assert "cut.avi" in err and "truncated" in err and "Traceback" not in err
    rows = (tmp_path / "b.csv").read_text().splitlines()
    assert 5 < len(rows) - 1 < 30                              # the frames before it, kept


@pytest.mark.parametrize("where", ["dir_is_a_file", "disk_full"])
def test_unwritable_outputs_exit_1(tmp_path, tiny_video, small_clip, random_weights, where, capsys):
    if where == "disk_full":
        import os
        if not os.path.exists("/dev/full"):
            pytest.skip("no /dev/full")
        target = ["--output-boxes", "/dev/full", "--format", "csv"]
    else:
        (tmp_path / "taken").write_text("a file, not a folder")
        target = ["--output-dir", str(tmp_path / "taken")]
    box = ",".join(f"{v:g}" for v in small_clip.boxes[0])
    code = main(["track", str(tiny_video), "--box", box, "--no-display", "--quiet",
                 "--weights", str(random_weights), *target])
    assert code == 1
    err = capsys.readouterr().err
    assert "clip.avi" in err and "writing" in err and "Traceback" not in err
