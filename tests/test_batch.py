"""Many videos as Ray tasks (``tracker/batch``): the same boxes as the plain run, a worker
that dies is retried with every output complete, a bad input fails alone, eval's scores
unchanged. One local Ray instance (2 CPUs) for the whole session; skipped without Ray."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracker.batch import JobReport, TrackerRecipe, TrackJob, track_job, track_many
from tracker.cli import main
from tracker.config import TrackerConfig
from tracker.diagnostics.synthetic import make_clip, write_video

from .test_eval import make_otb


@pytest.fixture(scope="session")
def ray_local():
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Three generated videos and a --boxes-json for them."""
    folder = tmp_path_factory.mktemp("videos")
    boxes = {}
    for k in range(3):
        clip = make_clip(num_frames=10, size=(160, 120), seed=k)
        write_video(str(folder / f"v{k}.avi"), clip.frames)
        boxes[f"v{k}.avi"] = [float(v) for v in clip.boxes[0]]
    (folder / "boxes.json").write_text(json.dumps(boxes))
    return folder


def track_args(videos: Path, out: Path, weights, *extra) -> list[str]:
    return ["track", str(videos / "v*.avi"), "--boxes-json", str(videos / "boxes.json"),
            "--output-dir", str(out), "--format", "csv,otb", "--no-video", "--dtype", "fp32",
            "--no-display", "--weights", str(weights), "--quiet", *extra]


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_ray_gives_the_plain_runs_box_files(ray_local, videos, tmp_path, random_weights):
    assert main(track_args(videos, tmp_path / "plain", random_weights, "--threads", "1")) == 0
    assert main(track_args(videos, tmp_path / "ray", random_weights, "--ray")) == 0
    plain, ray = files(tmp_path / "plain"), files(tmp_path / "ray")
    assert sorted(plain) == ["v0.csv", "v0.txt", "v1.csv", "v1.txt", "v2.csv", "v2.txt"]
    assert ray == plain                                   # byte for byte
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == list(ray)   # no staging left


@pytest.mark.slow
def test_a_worker_that_dies_is_retried_and_every_output_is_whole(ray_local, videos, tmp_path,
                                                                random_weights):
    """The first task to reach its third frame kills its own worker (a test hook); Ray retries
    it, and every output is the plain run's."""
    recipe = TrackerRecipe(str(random_weights), "cpu", TrackerConfig(), None, "fp32")
    boxes = json.loads((videos / "boxes.json").read_text())
    jobs = [TrackJob(str(videos / name), (tuple(box),),
                     ((str(tmp_path / "out" / f"{Path(name).stem}.csv"), "csv"),))
            for name, box in sorted(boxes.items())]
    flag = tmp_path / "crashed"
    reports = track_many(jobs, recipe, crash_once=str(flag))
    assert flag.exists()                                  # a worker did die
    assert [r.frames for r in reports] == [10, 10, 10] and not any(r.error for r in reports)
    tracker = recipe.build()
    for job in jobs:
        alone = tmp_path / "alone" / Path(job.box_files[0][0]).name
        track_job(TrackJob(job.source, job.boxes, ((str(alone), "csv"),)), tracker)
        assert Path(job.box_files[0][0]).read_bytes() == alone.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("boxed", [True, False])
def test_a_bad_input_fails_alone(ray_local, videos, tmp_path, random_weights, capsys, boxed):
    """An unreadable video (with its box), or one without a box: its one line, the others
    are tracked."""
    broken = videos / "v9.avi"
    broken.write_bytes(b"\x00" * 300)
    boxes = json.loads((videos / "boxes.json").read_text())
    if boxed:
        boxes["v9.avi"] = [1, 1, 10, 10]
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    args = track_args(videos, tmp_path / "out", random_weights, "--ray")
    args[args.index("--boxes-json") + 1] = str(tmp_path / "boxes.json")
    try:
        code = main(args)
    finally:
        broken.unlink()
    assert code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("siamfc: error:")]
    assert len(lines) == 1 and "v9.avi" in lines[0]
    assert ("cannot open" in lines[0]) == boxed
    assert sorted(files(tmp_path / "out")) == ["v0.csv", "v0.txt", "v1.csv", "v1.txt",
                                               "v2.csv", "v2.txt"]


@pytest.mark.slow
def test_eval_on_ray_gives_the_same_scores(ray_local, tmp_path, random_slim_weights):
    root = make_otb(tmp_path / "otb")
    runs = {}
    for name, extra in [("plain", []), ("ray", ["--ray"])]:
        assert main(["eval", str(root), "--trackers", "siamfc", "--results-dir",
                     str(tmp_path / name), "--report-dir", str(tmp_path / f"{name}-reports"),
                     "--weights", str(random_slim_weights), "--device", "cpu", "--dtype", "fp32",
                     "--quiet", "--no-plots", *extra]) == 0
        runs[name] = json.loads((tmp_path / f"{name}-reports" / "siamfc@random_slim"
                                 / "performance.json").read_text())
    plain = runs["plain"]["siamfc@random_slim"]["seq_wise"]
    ray = runs["ray"]["siamfc@random_slim"]["seq_wise"]
    assert plain.keys() == ray.keys()
    for seq in plain:
        assert ray[seq]["success_score"] == plain[seq]["success_score"]
        assert ray[seq]["precision_score"] == plain[seq]["precision_score"]


def test_ray_needs_an_output_dir(tmp_path, random_weights, capsys):
    assert main(["track", str(tmp_path / "x.avi"), "--box", "1,1,5,5", "--no-display",
                 "--weights", str(random_weights), "--output-boxes", str(tmp_path / "a.csv"),
                 "--ray"]) == 2
    assert "--output-dir" in capsys.readouterr().err


def test_without_ray_the_error_names_the_install(monkeypatch, videos, tmp_path, random_weights,
                                                 capsys):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "ray" else real(name, *a, **k))
    assert main(track_args(videos, tmp_path / "out", random_weights, "--ray")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install -e ".[ray]"' in err[0]


def test_a_job_report_round_trips():
    report = JobReport("a.avi", 3, 0.5, None, ["out/a.csv"])
    assert JobReport(**json.loads(json.dumps(report.__dict__))) == report
