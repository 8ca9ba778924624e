"""``siamfc track`` on several files and formats, and the live loop driven headless."""
import json

import cv2
import numpy as np
import pytest

from tracker.cli import main
from tracker.cli.webcam import LiveOptions, run_live
from tracker.media.boxfiles import read_box_csv
from tracker.siamfc import SiamFCMultiTracker
from tracker.diagnostics.synthetic import write_video


def run(*args):
    return main([str(a) for a in args])


def frame_count(path):
    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    return n


@pytest.fixture
def inputs(tmp_path, small_clip):
    """Two good videos, an image folder and a broken file."""
    a, b = tmp_path / "in" / "a.avi", tmp_path / "in" / "b.avi"
    a.parent.mkdir()
    write_video(str(a), small_clip.frames)
    write_video(str(b), small_clip.frames[:7])
    folder = tmp_path / "in" / "seq"
    folder.mkdir()
    for i, frame in enumerate(small_clip.frames[:5]):
        cv2.imwrite(str(folder / f"{i:04d}.png"), frame)
    broken = tmp_path / "in" / "broken.mp4"
    broken.write_bytes(b"\x00" * 500)
    return a, b, folder, broken


def box_args(clip, n=1):
    x, y, w, h = clip.boxes[0]
    return [arg for i in range(n) for arg in ("--box", f"{x + 3 * i:g},{y:g},{w:g},{h:g}")]


@pytest.mark.slow
def test_several_inputs_formats_and_targets_one_broken(tmp_path, inputs, small_clip, random_weights, capsys):
    a, b, folder, broken = inputs
    out = tmp_path / "out"
    code = run("track", a, broken, b, folder, *box_args(small_clip, 2), "--output-dir", out,
               "--format", "csv,json,mot,otb", "--no-display", "--weights", random_weights,
               "--device", "cpu", "--quiet")
    assert code == 2                                              # one input failed ...
    err = capsys.readouterr().err
    assert "broken.mp4" in err and "3 of 4 inputs tracked" in err
    for name, frames in (("a", 12), ("b", 7), ("seq", 5)):      # ... the others ran
        rows = read_box_csv(out / f"{name}.csv")
        assert len(rows) == 2 * frames and {r["target"] for r in rows} == {0, 1}
        doc = json.loads((out / f"{name}.json").read_text())
        assert [len(t["boxes"]) for t in doc["targets"]] == [frames, frames]
        assert len((out / f"{name}.mot.txt").read_text().splitlines()) == 2 * frames
        for t in (0, 1):
            assert np.loadtxt(out / f"{name}_t{t}.txt", delimiter=",").shape == (frames, 4)
        assert frame_count(out / f"{name}.mp4") == frames
    assert not (out / "broken.csv").exists()


@pytest.mark.slow
def test_glob_boxes_json_and_missing_entry(tmp_path, inputs, small_clip, random_weights, capsys):
    a, b, _, _ = inputs
    boxes = tmp_path / "init.json"
    boxes.write_text(json.dumps({"a.avi": list(small_clip.boxes[0])}))
    code = run("track", str(tmp_path / "in" / "*.avi"), "--boxes-json", boxes, "--output-dir",
               tmp_path / "out", "--no-video", "--no-display", "--weights", random_weights, "--quiet")
    assert code == 2
    assert "b.avi: no initial box" in capsys.readouterr().err
    assert len(read_box_csv(tmp_path / "out" / "a.csv")) == 12
    assert not (tmp_path / "out" / "a.mp4").exists()
    assert not (tmp_path / "out" / "b.csv").exists()          # no empty output for a skipped input


def test_annotated_frames_instead_of_video(tmp_path, inputs, small_clip, random_weights):
    _, _, folder, _ = inputs
    code = run("track", folder, *box_args(small_clip), "--output-dir", tmp_path / "out",
               "--save-frames", "--no-display", "--weights", random_weights, "--quiet")
    assert code == 0
    assert len(list((tmp_path / "out" / "seq_frames").glob("*.jpg"))) == 5
    assert not (tmp_path / "out" / "seq.mp4").exists()


@pytest.mark.parametrize("args,message", [
    (["--output-video", "x.mp4"], "--output-dir"),
    (["--output-dir", "o", "--format", "xml"], "--format"),
    (["--output-boxes", "x.yaml"], "extension"),
])
def test_contradictory_options_exit_2(tmp_path, inputs, small_clip, random_weights, args, message, capsys):
    a, b, _, _ = inputs
    code = run("track", a, *(["--output-dir", tmp_path / "o"] if "--output-video" not in args else [b]),
               *box_args(small_clip), *args, "--no-display", "--weights", random_weights)
    assert code == 2 and message in capsys.readouterr().err


def test_interrupt_leaves_every_format_valid(tmp_path, inputs, small_clip, random_weights, monkeypatch):
    from tracker.media import video
    original = video.FrameSource.__iter__

    def interrupted(self):
        for i, frame in enumerate(original(self)):
            if i == 6:
                raise KeyboardInterrupt
            yield frame

    monkeypatch.setattr(video.FrameSource, "__iter__", interrupted)
    a = inputs[0]
    out = tmp_path / "out"
    code = run("track", a, *box_args(small_clip), "--output-dir", out, "--format", "csv,json,mot,otb",
               "--no-display", "--weights", random_weights, "--quiet")
    assert code == 130
    assert len(read_box_csv(out / "a.csv")) == 6
    assert len(json.loads((out / "a.json").read_text())["targets"][0]["boxes"]) == 6
    assert len((out / "a.mot.txt").read_text().splitlines()) == 6
    assert np.loadtxt(out / "a.txt", delimiter=",").shape == (6, 4)
    assert frame_count(out / "a.mp4") == 6


class ScriptedDisplay:
    """Stands in for the window: keys and drawn boxes from scripts, frames counted."""

    def __init__(self, keys, boxes):
        self.keys, self.boxes = list(keys), list(boxes)
        self.shown, self.closed = 0, False

    def show(self, frame):
        assert frame.ndim == 3 and frame.dtype == np.uint8
        self.shown += 1

    def key(self, wait_ms):
        return self.keys.pop(0) if self.keys else -1

    def select_box(self, frame, prompt):
        return self.boxes.pop(0) if self.boxes else None

    def clicked(self):
        return None

    def close(self):
        self.closed = True


@pytest.mark.slow
def test_live_loop_headless_keys(tmp_path, tiny_video, small_clip, random_weights):
    box = tuple(small_clip.boxes[0])
    other = (5.0, 5.0, 30.0, 30.0)
    # frame 0: box drawn; frame 1: 'a' adds a target; 2: space pauses, (paused) 's' snapshot,
    # space resumes; 3: tab; 4: 'd' drops the selected target; 6: q
    keys = [-1, ord("a"), ord(" "), ord("s"), ord(" "), 9, ord("d"), -1, ord("q")]
    display = ScriptedDisplay(keys, [box, other])
    tracker = SiamFCMultiTracker.from_pretrained(random_weights, device="cpu")
    options = LiveOptions(record=str(tmp_path / "rec.avi"), output_boxes=str(tmp_path / "b.csv"),
                          snapshot_dir=str(tmp_path / "snaps"))
    stats = run_live(str(tiny_video), tracker, display, options)
    assert display.closed and stats.frames == 7 and len(stats.snapshots) == 1
    assert cv2.imread(stats.snapshots[0]).shape == small_clip.frames[0].shape
    rows = read_box_csv(tmp_path / "b.csv")
    per_frame = {}
    for r in rows:
        per_frame.setdefault(int(r["frame"]), set()).add(int(r["target"]))
    assert per_frame[0] == {0} and per_frame[2] == {0, 1} and per_frame[6] == {1}
    assert frame_count(tmp_path / "rec.avi") == 7


def test_live_recording_keeps_the_camera_frame_count(tmp_path, tiny_video, small_clip,
                                                      random_weights, monkeypatch):
    """A slow tracker on a live feed drops stale frames; the recording repeats the annotated
    frame in their place, so it has as many frames as the camera sent and plays at its speed."""
    import time

    from tracker.cli import webcam as cli_webcam
    monkeypatch.setattr(cli_webcam, "is_live", lambda source: True)
    tracker = SiamFCMultiTracker.from_pretrained(random_weights, device="cpu")
    update = tracker.update

    def slow_update(frame):
        time.sleep(0.05)
        return update(frame)

    tracker.update = slow_update
    options = LiveOptions(record=str(tmp_path / "rec.avi"), boxes=[tuple(small_clip.boxes[0])])
    stats = run_live(str(tiny_video), tracker, None, options)
    assert stats.dropped > 0 and stats.frames + stats.dropped == len(small_clip.frames)
    assert frame_count(tmp_path / "rec.avi") == len(small_clip.frames)


@pytest.mark.parametrize("frames, dropped, network, hinted", [
    (100, 30, "mobilenetv2", True), (100, 10, "mobilenetv2", False),
    (100, 30, "mobilenetv2_s16", False), (0, 0, "mobilenetv2", False),
    (5, 1, "alexnet", True)])
def test_a_tracker_behind_its_feed_is_pointed_to_the_fast_one(frames, dropped, network, hinted):
    from tracker.cli.webcam import behind_hint
    hint = behind_hint(frames, dropped, network)
    assert (hint is not None) == hinted
    if hinted:
        assert f"{dropped} of its {frames + dropped} frames" in hint and "--fast" in hint


def test_webcam_says_when_it_fell_behind(tmp_path, tiny_video, small_clip, random_weights,
                                         monkeypatch, capsys):
    import time

    from tracker.cli import webcam as cli_webcam
    monkeypatch.setattr(cli_webcam, "is_live", lambda source: True)
    build = cli_webcam.build_multi_tracker

    def slow(*args, **kwargs):
        tracker = build(*args, **kwargs)
        update = tracker.update
        tracker.update = lambda frame: time.sleep(0.05) or update(frame)
        return tracker

    monkeypatch.setattr(cli_webcam, "build_multi_tracker", slow)
    assert run("webcam", "--camera", tiny_video, *box_args(small_clip), "--no-display",
               "--weights", random_weights) == 0
    err = capsys.readouterr().err
    assert "stale frames dropped" in err and "fell behind the feed" in err and "--fast" in err


@pytest.mark.slow
def test_live_feed_that_dropped_frame_0_still_starts_tracking(tmp_path, tiny_video, small_clip,
                                                               random_weights, monkeypatch):
    from tracker.cli import webcam as cli_webcam

    class LateReader(cli_webcam.BackgroundReader):
        """Frame 0 went stale before the loop took it."""

        def __iter__(self):
            for index, frame in super().__iter__():
                if index == 0:
                    self.dropped += 1
                    continue
                yield index, frame

    monkeypatch.setattr(cli_webcam, "BackgroundReader", LateReader)
    tracker = SiamFCMultiTracker.from_pretrained(random_weights, device="cpu")
    options = LiveOptions(output_boxes=str(tmp_path / "b.csv"), boxes=[tuple(small_clip.boxes[0])])
    stats = run_live(str(tiny_video), tracker, None, options)
    frames = sorted({int(r["frame"]) for r in read_box_csv(tmp_path / "b.csv")})
    assert stats.dropped == 1 and frames == list(range(1, len(small_clip.frames)))


@pytest.mark.slow
def test_webcam_command_with_a_file_for_camera(tmp_path, tiny_video, small_clip, random_weights, capsys):
    code = run("webcam", "--camera", tiny_video, *box_args(small_clip), "--no-display",
               "--output-boxes", tmp_path / "b.json", "--weights", random_weights)
    assert code == 0
    doc = json.loads((tmp_path / "b.json").read_text())
    assert len(doc["targets"][0]["boxes"]) == len(small_clip.frames)
    assert "stale frames dropped" in capsys.readouterr().err


def test_missing_camera_exit_2(monkeypatch, random_weights, capsys):
    from tracker.media import video

    class NoCamera:
        def __init__(self, *args):
            pass

        def isOpened(self):
            return False

        def release(self):
            pass

    monkeypatch.setattr(video.cv2, "VideoCapture", NoCamera)
    assert run("track", "0", "--box", "1,2,3,4", "--no-display", "--weights", random_weights) == 2
    assert "camera 0 could not be opened" in capsys.readouterr().err


def test_start_frame_and_max_frames(tmp_path, inputs, small_clip, random_weights):
    """Tracking starts on frame 3 with the given box there, for 4 frames; the rows keep the
    source's frame numbers."""
    a = inputs[0]
    box = ",".join(f"{v:g}" for v in small_clip.boxes[3])
    out = tmp_path / "part.csv"
    assert run("track", a, "--box", box, "--start-frame", 3, "--max-frames", 4, "--no-display",
               "--weights", random_weights, "--output-boxes", out, "--quiet") == 0
    rows = read_box_csv(out)
    assert [int(r["frame"]) for r in rows] == [3, 4, 5, 6]
    assert [rows[0][k] for k in "xywh"] == pytest.approx(list(small_clip.boxes[3]))


def test_start_frame_past_the_end_is_one_clear_error(tmp_path, inputs, small_clip,
                                                     random_weights, capsys):
    box = ",".join(f"{v:g}" for v in small_clip.boxes[0])
    assert run("track", inputs[0], "--box", box, "--start-frame", 50, "--no-display",
               "--weights", random_weights, "--output-boxes", tmp_path / "x.csv") == 2
    err = capsys.readouterr().err
    assert "--start-frame" in err and "12 frames" in err and not (tmp_path / "x.csv").exists()


@pytest.mark.slow
def test_summary_names_the_files_written(tmp_path, inputs, small_clip, random_weights, capsys):
    """Two targets in OTB format: one file per target, and the summary names those."""
    first = small_clip.boxes[0]
    boxes = [",".join(f"{v:g}" for v in b) for b in (first, first + np.array([40, 0, 0, 0]))]
    out = tmp_path / "out"
    assert run("track", inputs[0], "--box", boxes[0], "--box", boxes[1], "--no-display",
               "--weights", random_weights, "--output-dir", out, "--format", "otb",
               "--no-video") == 0
    err = capsys.readouterr().err
    assert str(out / "a_t0.txt") in err and str(out / "a_t1.txt") in err
    assert str(out / "a.txt") not in err and (out / "a_t1.txt").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name,ok", [("out.mkv", True), ("out.mov", True), ("out.xyz", False)])
def test_output_video_extensions(tmp_path, inputs, small_clip, random_weights, capsys, name, ok):
    """Every extension the help names is written; another is refused before anything runs."""
    box = ",".join(f"{v:g}" for v in small_clip.boxes[0])
    code = run("track", inputs[0], "--box", box, "--no-display", "--weights", random_weights,
               "--output-video", tmp_path / name, "--quiet")
    if ok:
        assert code == 0 and frame_count(tmp_path / name) == len(small_clip.frames)
    else:
        assert code == 2 and ".mkv" in capsys.readouterr().err
        assert not (tmp_path / name).exists()
