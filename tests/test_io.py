"""Box writers, the background frame reader and sinks, on generated data."""
import json
import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from tracker.errors import SourceError
from tracker.media.boxfiles import (FORMATS, format_for_path, open_box_writer, parse_formats,
                             read_box_csv)
from tracker.media.video import BackgroundReader, ImageFolderSink, is_live


@dataclass
class R:
    box: tuple
    score: float
    target_id: int
    lost: bool = False


def frames_of(n, h=24, w=32):
    return [np.full((h, w, 3), i, np.uint8) for i in range(n)]


def write_track(path, fmt, targets=2, frames=4):
    with open_box_writer(path, fmt, "clip.mp4", 25.0) as writer:
        for f in range(frames):
            writer.write(f, [R((10.0 + f, 20.0, 30.0, 40.0), 0.9, t, lost=(f == 3)) for t in range(targets)])


@pytest.mark.parametrize("targets", [1, 2])
@pytest.mark.parametrize("fmt", FORMATS)
def test_box_writers(tmp_path, fmt, targets):
    path = tmp_path / f"out{'.mot.txt' if fmt == 'mot' else {'csv': '.csv', 'json': '.json', 'otb': '.txt'}.get(fmt, '')}"
    assert format_for_path(path) == fmt
    write_track(path, fmt, targets)
    if fmt == "csv":
        rows = read_box_csv(path)
        assert len(rows) == 4 * targets
        assert rows[-1] == {"frame": 3, "target": targets - 1, "x": 13, "y": 20, "w": 30, "h": 40,
                            "score": 0.9, "lost": 1}
    elif fmt == "json":
        doc = json.loads(path.read_text())
        assert doc["fps"] == 25.0 and doc["source"] == "clip.mp4" and len(doc["targets"]) == targets
        assert doc["targets"][0]["boxes"][1] == [11, 20, 30, 40] and doc["targets"][0]["lost"][3]
    elif fmt == "mot":
        lines = path.read_text().splitlines()
        assert len(lines) == 4 * targets
        assert lines[0].split(",") == ["1", "1", "11.000", "21.000", "30.000", "40.000", "0.9000", "-1", "-1", "-1"]
    else:
        files = [path] if targets == 1 else [tmp_path / f"out_t{t}.txt" for t in range(targets)]
        for f in files:
            boxes = np.loadtxt(f, delimiter=",")
            assert boxes.shape == (4, 4) and boxes[2, 0] == 12
        if targets > 1:
            assert not path.exists()


def test_json_is_valid_while_being_written(tmp_path):
    path = tmp_path / "t.json"
    writer = open_box_writer(path)
    for f in range(120):
        writer.write(f, [R((1.0, 2.0, 3.0, 4.0), 0.5, 0)])
    doc = json.loads(path.read_text())            # not closed yet: the last periodic dump
    assert 100 <= len(doc["targets"][0]["frames"]) <= 120
    writer.close()
    assert len(json.loads(path.read_text())["targets"][0]["frames"]) == 120


@pytest.mark.parametrize("name", ["boxes.avi", "boxes", "x.mp4"])
def test_unknown_box_extension(name):
    with pytest.raises(ValueError, match="extension"):
        format_for_path(name)


@pytest.mark.parametrize("text,ok", [("csv", True), ("csv,json,mot,otb", True), ("CSV, json", True),
                                     ("xml", False), ("", False), ("csv,yaml", False)])
def test_parse_formats(text, ok):
    if ok:
        assert set(parse_formats(text)) <= set(FORMATS)
    else:
        with pytest.raises(ValueError, match="--format"):
            parse_formats(text)


@pytest.mark.parametrize("source,live", [("0", True), (3, True), ("rtsp://cam/1", True),
                                         ("http://x/y.mjpg", True), ("video.mp4", False),
                                         ("frames/", False)])
def test_is_live(source, live):
    assert is_live(source) == live


def test_prefetch_reader_keeps_order_and_reports_errors_after_frames():
    def broken():
        yield from frames_of(5)
        raise SourceError("clip.mp4: frame 5 is corrupt", frame_index=5)

    got = []
    with BackgroundReader(broken(), prefetch=2) as reader:
        with pytest.raises(SourceError, match="frame 5"):
            for index, frame in reader:
                got.append((index, int(frame[0, 0, 0])))
    assert got == [(i, i) for i in range(5)]


def test_latest_reader_drops_stale_frames():
    def camera():
        for frame in frames_of(40):
            time.sleep(0.005)
            yield frame

    seen = []
    with BackgroundReader(camera(), latest=True) as reader:
        for index, frame in reader:
            seen.append(index)
            time.sleep(0.03)                      # a slow tracker
    assert seen == sorted(seen) and seen[-1] == 39
    assert len(seen) < 40 and reader.dropped == 40 - len(seen)


@pytest.mark.slow
def test_reader_times_out_on_a_silent_camera():
    release = threading.Event()

    def stalled():
        yield frames_of(1)[0]
        release.wait(5)                           # the camera hangs

    with BackgroundReader(stalled(), latest=True, timeout=0.3, name="camera 0") as reader:
        start = time.monotonic()
        with pytest.raises(SourceError, match="camera 0: no frame for"):
            for _ in reader:
                pass
        assert time.monotonic() - start < 3
    release.set()


def test_camera_that_stops_raises_after_its_frames(monkeypatch):
    from tracker.media import video

    class FakeCapture:
        def __init__(self, index):
            self.left = 3

        def isOpened(self):
            return True

        def read(self):
            self.left -= 1
            return (self.left >= 0, frames_of(1)[0] if self.left >= 0 else None)

        def get(self, prop):
            return 30.0

        def release(self):
            pass

    monkeypatch.setattr(video.cv2, "VideoCapture", FakeCapture)
    with video.FrameSource("0") as source, BackgroundReader(source, latest=False, name="0") as reader:
        got = []
        with pytest.raises(SourceError, match="stopped delivering frames after frame 3"):
            for index, _ in reader:
                got.append(index)
    assert got == [0, 1, 2]


def test_image_folder_sink(tmp_path):
    with ImageFolderSink(tmp_path / "out", names=["a.png", "b.png"]) as sink:
        for frame in frames_of(3):
            sink.write(frame)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["000002.jpg", "a.png", "b.png"]
    assert cv2.imread(str(tmp_path / "out" / "a.png")).shape == (24, 32, 3)
