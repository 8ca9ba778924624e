"""The ``siamfc`` command end to end on tiny generated inputs (no display, random weights)."""
import subprocess
import sys

import cv2
import pytest

from tracker.cli import main
from tracker.media.boxfiles import read_box_csv


def run(*args):
    return main([str(a) for a in args])


@pytest.fixture
def frames_dir(tmp_path, small_clip):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(small_clip.frames):
        cv2.imwrite(str(folder / f"{i + 1:04d}.jpg"), frame)
    return folder


def box_arg(clip):
    return ",".join(f"{v:g}" for v in clip.boxes[0])


@pytest.mark.slow
@pytest.mark.parametrize("source_kind", ["video", "folder"])
def test_track_writes_outputs(tmp_path, tiny_video, frames_dir, small_clip, random_weights, source_kind):
    source = tiny_video if source_kind == "video" else frames_dir
    csv_path, video_path = tmp_path / "out" / "boxes.csv", tmp_path / "out" / "tracked.mp4"
    code = run("track", source, "--box", box_arg(small_clip), "--no-display", "--quiet",
               "--weights", random_weights, "--device", "cpu",
               "--output-boxes", csv_path, "--output-video", video_path)
    assert code == 0
    rows = read_box_csv(csv_path)
    assert [int(r["frame"]) for r in rows] == list(range(len(small_clip.frames)))
    assert rows[0]["x"] == pytest.approx(small_clip.boxes[0][0], abs=1e-3)
    cap = cv2.VideoCapture(str(video_path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(small_clip.frames)
    cap.release()


def test_missing_source_exit_2(tmp_path, random_weights, capsys):
    code = run("track", tmp_path / "missing.mp4", "--box", "1,2,3,4", "--no-display",
               "--weights", random_weights, "--output-boxes", tmp_path / "b.csv")
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.mp4" in err and "Traceback" not in err


def test_unreadable_video_exit_2(tmp_path, random_weights, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00not a video" * 100)
    assert run("track", bad, "--box", "1,2,3,4", "--no-display", "--weights", random_weights,
               "--output-boxes", tmp_path / "b.csv") == 2
    assert "broken.mp4" in capsys.readouterr().err


@pytest.mark.parametrize("box", ["1,2,3", "0,0,0,5", "900,900,5,5", "a,b,c,d"])
def test_bad_box_exit_2(tiny_video, tmp_path, random_weights, box, capsys):
    assert run("track", tiny_video, "--box", box, "--no-display", "--quiet",
               "--weights", random_weights, "--output-boxes", tmp_path / "b.csv") == 2
    assert "box" in capsys.readouterr().err


def test_no_box_without_display_exit_2(tiny_video, tmp_path, random_weights, capsys):
    assert run("track", tiny_video, "--no-display", "--weights", random_weights,
               "--output-boxes", tmp_path / "b.csv") == 2
    assert "--box" in capsys.readouterr().err


def test_missing_weights_exit_2(tiny_video, tmp_path, capsys):
    assert run("track", tiny_video, "--box", "1,2,3,4", "--no-display",
               "--weights", tmp_path / "none.pth", "--output-boxes", tmp_path / "b.csv") == 2
    assert "none.pth" in capsys.readouterr().err


@pytest.mark.parametrize("argv,expected", [
    ([], ("siamfc_mobilenetv2.pth", None)),
    (["--head", "xcorr"], ("siamfc_mobilenetv2.pth", None)),
    (["--backbone", "mobilenetv2_64"], ("siamfc_mobilenetv2_64.pth", "mobilenetv2_64")),
    (["--head", "xcorr-box"], ("siamfc_mobilenetv2_box.pth", None)),
    (["--head", "xcorr-box", "--backbone", "mobilenetv2"], ("siamfc_mobilenetv2_box.pth", "mobilenetv2")),
    (["--backbone", "alexnet", "--head", "xcorr"], ("siamfc_alexnet.pth", "alexnet")),
])
def test_head_option_picks_the_shipped_file(argv, expected, monkeypatch):
    import argparse
    from tracker.cli.options import add_weights_options, weights_from_args
    monkeypatch.delenv("SIAMFC_WEIGHTS", raising=False)
    p = argparse.ArgumentParser()
    add_weights_options(p)
    path, backbone = weights_from_args(p.parse_args(argv))
    assert (path.name, backbone) == expected


@pytest.mark.parametrize("argv,message", [
    (["--head", "xcorr-box", "--weights", "x.pth"], "drop --head"),
    (["--head", "xcorr-box", "--lite"], "not both"),
    (["--fast", "--lite"], "give --fast or --lite, not both"),
    (["--fast", "--weights", "x.pth"], "give --fast or --weights, not both"),
    (["--head", "xcorr-box", "--backbone", "alexnet"], "no shipped weights for head 'xcorr-box'"),
])
def test_head_option_refuses_what_it_cannot_pick(tiny_video, tmp_path, argv, message, capsys,
                                                 monkeypatch):
    monkeypatch.delenv("SIAMFC_WEIGHTS", raising=False)
    assert run("track", tiny_video, "--box", "1,2,3,4", "--no-display", *argv,
               "--output-boxes", tmp_path / "b.csv") == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_corrupt_frame_keeps_tracked_rows(tmp_path, frames_dir, small_clip, random_weights, capsys):
    (frames_dir / "0007.jpg").write_bytes(b"garbage")
    csv_path = tmp_path / "boxes.csv"
    code = run("track", frames_dir, "--box", box_arg(small_clip), "--no-display", "--quiet",
               "--weights", random_weights, "--output-boxes", csv_path)
    assert code == 2
    assert "0007.jpg" in capsys.readouterr().err
    assert len(read_box_csv(csv_path)) == 6


@pytest.mark.slow
def test_demo(tmp_path, random_weights, capsys):
    code = run("demo", "--output-dir", tmp_path / "demo", "--frames", 8, "--weights",
               random_weights, "--device", "cpu")
    assert code == 0
    assert "mean IoU" in capsys.readouterr().err
    assert len(read_box_csv(tmp_path / "demo" / "demo_boxes.csv")) == 8
    assert (tmp_path / "demo" / "demo_tracked.mp4").stat().st_size > 0


@pytest.mark.parametrize("still,code", [(3, 0), (8, 2)])
def test_demo_still(tmp_path, random_weights, capsys, still, code):
    """--still N saves frame N (the README's picture); a frame past the clip is refused."""
    assert run("demo", "--output-dir", tmp_path / "demo", "--frames", 8, "--still", still,
               "--weights", random_weights, "--device", "cpu") == code
    path = tmp_path / "demo" / "demo_still.jpg"
    if code == 0:
        import cv2
        assert cv2.imread(str(path)).shape == (360, 640, 3)
    else:
        assert "--still 8" in capsys.readouterr().err and not path.exists()


@pytest.mark.slow
def test_python_dash_m(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tracker", "track", str(tmp_path / "x.avi"),
                          "--box", "1,1,2,2", "--no-display", "--output-boxes",
                          str(tmp_path / "b.csv")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "x.avi" in out.stderr


@pytest.mark.slow
def test_bench_runs_and_reports_stages(random_weights, capsys):
    code = run("bench", "--frames", 3, "--targets", 2, "--no-opencv", "--device", "cpu",
               "--weights", random_weights)
    assert code == 0
    out = capsys.readouterr().out
    for stage in ("crop", "backbone", "xcorr", "upsample_peak", "bookkeeping"):
        assert f"{stage} ms" in out
    assert "cost per additional target" in out
    assert "backbone precision: fp32" in out     # auto, and no calibration beside these weights


@pytest.mark.slow
@pytest.mark.parametrize("setting,code", [("num_scales=5", 0), ("num_scales=4", 2), ("bogus=1", 2),
                                          ("box_peak=cell", 0), ("box_peak=middle", 2),
                                          ("scale_lr=fast", 2)])
def test_bench_takes_settings(random_weights, setting, code, capsys):
    assert run("bench", "--frames", 2, "--no-opencv", "--device", "cpu", "--weights",
               random_weights, "--set", setting) == code
    if code:
        assert setting.split("=")[0] in capsys.readouterr().err


@pytest.mark.slow
def test_bench_says_when_an_opencv_tracker_is_missing(random_weights, monkeypatch, capsys):
    from tracker.evaluation import adapters

    def missing(spec):
        raise ValueError(f"{spec.name} needs OpenCV's contrib modules")
    monkeypatch.setattr(adapters, "opencv_factory", missing)
    assert run("bench", "--frames", 2, "--device", "cpu", "--weights", random_weights) == 0
    out = capsys.readouterr().out
    assert "not timed: opencv-csrt needs OpenCV's contrib modules" in out
    assert "| opencv-csrt" not in out


@pytest.mark.slow
def test_bench_times_mil_where_csrt_is_missing(random_weights, monkeypatch, capsys):
    """Plain OpenCV (no contrib build): CSRT is named as not timed, MIL is timed instead."""
    from tracker.evaluation import adapters
    real = adapters.opencv_factory

    def no_contrib(spec):
        if spec.name in ("opencv-csrt", "opencv-kcf"):
            raise ValueError(f"{spec.name} needs OpenCV's contrib modules")
        return real(spec)
    monkeypatch.setattr(adapters, "opencv_factory", no_contrib)
    assert run("bench", "--frames", 2, "--device", "cpu", "--weights", random_weights) == 0
    out = capsys.readouterr().out
    assert "| opencv-mil" in out and "OpenCV's MIL timed instead" in out
    assert "| opencv-csrt" not in out


@pytest.mark.slow
def test_bench_compares_other_weights_in_the_same_run(random_weights, random_slim_weights, capsys):
    assert run("bench", "--frames", 2, "--no-opencv", "--device", "cpu", "--weights",
               random_weights, "--compare", random_slim_weights) == 0
    out = capsys.readouterr().out
    assert "| siamfc alexnet_slim fp32 (siamfc-3s)" in out
    assert "siamfc 1 target / siamfc alexnet_slim fp32 (siamfc-3s):" in out and "update rate" in out


@pytest.mark.slow
def test_bench_on_video(tiny_video, random_weights, capsys):
    assert run("bench", "--source", tiny_video, "--frames", 3, "--no-opencv", "--device", "cpu",
               "--weights", random_weights) == 0
    assert "clip.avi" in capsys.readouterr().out


def test_ctrl_c_keeps_tracked_rows(tmp_path, tiny_video, small_clip, random_weights, monkeypatch, capsys):
    from tracker.media import video
    original = video.FrameSource.__iter__

    def interrupted(self):
        for i, frame in enumerate(original(self)):
            if i == 5:
                raise KeyboardInterrupt
            yield frame

    monkeypatch.setattr(video.FrameSource, "__iter__", interrupted)
    csv_path, video_path = tmp_path / "b.csv", tmp_path / "v.avi"
    code = run("track", tiny_video, "--box", box_arg(small_clip), "--no-display", "--quiet",
               "--weights", random_weights, "--output-boxes", csv_path, "--output-video", video_path)
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert len(read_box_csv(csv_path)) == 5
    cap = cv2.VideoCapture(str(video_path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5      # the file was closed properly
    cap.release()


@pytest.mark.parametrize("argv,weights,preset", [
    ([], "siamfc_mobilenetv2.pth", "siamfc-3s"),
    (["--preset", "siamfc-1s"], "siamfc_mobilenetv2.pth", "siamfc-1s"),
    (["--fast"], "siamfc_mobilenetv2_s16.pth", "siamfc-1s"),
    (["--fast", "--preset", "siamfc-3s"], "siamfc_mobilenetv2_s16.pth", "siamfc-3s"),
    (["--backbone", "mobilenetv2_64"], "siamfc_mobilenetv2_64.pth", "siamfc-1s"),
    (["--backbone", "mobilenetv2_s16"], "siamfc_mobilenetv2_s16.pth", "siamfc-1s"),
    (["--lite"], "siamfc_lite.pth", "siamfc-3s"),
    (["--head", "xcorr-box"], "siamfc_mobilenetv2_box.pth", "siamfc-3s"),
])
def test_each_network_tracks_with_its_preset(argv, weights, preset, monkeypatch):
    """Without --preset the network's (config.preset_for): one crop and the scale filter for
    the --fast network and mobilenetv2_64, the paper's three scales for the others."""
    import argparse
    from tracker.cli.options import add_model_options, tracker_config, weights_from_args
    monkeypatch.delenv("SIAMFC_WEIGHTS", raising=False)
    p = argparse.ArgumentParser()
    add_model_options(p)
    args = p.parse_args(argv)
    assert weights_from_args(args)[0].name == weights
    cfg = tracker_config(args)
    assert cfg.name == preset
    assert cfg.scale_estimate == ("filter" if preset == "siamfc-1s" else "pyramid")
