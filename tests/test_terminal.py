"""What a person sees on the terminal: each message on a line of its own, never glued to a
progress bar, for one input and for several; a missing camera is one line."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tracker.cli import console, main


@pytest.fixture(autouse=True)
def terminal(monkeypatch):
    """stderr taken for a terminal, bars shown at once: what a person at a terminal sees."""
    monkeypatch.setattr(console, "on_terminal", lambda: True)
    monkeypatch.setattr(console, "BAR_DELAY", 0.0)


def render(stream: str) -> list[str]:
    """The screen lines a terminal shows for ``stream`` (carriage return, newline and tqdm's
    cursor-up / erase-line escapes; other escapes dropped), trailing blanks stripped."""
    rows: list[list[str]] = [[]]
    row = col = 0
    for token in re.findall(r"\x1b\[\d*[A-Za-z]|.|\n", stream, flags=re.S):
        if token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
        elif token.startswith("\x1b["):
            if token.endswith("A"):
                row = max(0, row - int(token[2:-1] or 1))
            elif token.endswith("K"):
                del rows[row][col:]
            continue
        else:
            while len(rows[row]) <= col:
                rows[row].append(" ")
            rows[row][col] = token
            col += 1
        while len(rows) <= row:
            rows.append([])
    return [line for line in ("".join(r).rstrip() for r in rows) if line]


def message_lines(stream: str) -> list[str]:
    return [line for line in render(stream) if "siamfc:" in line or " frames in " in line
            or "inputs tracked" in line]


def assert_alone(lines: list[str]) -> None:
    for line in lines:
        assert "frame/s" not in line and "it/s" not in line and "%|" not in line, line
        assert re.match(r"^(siamfc: |\S+: \d+ frames in |\d+ of \d+ inputs)", line), line


def test_render_handles_bars():
    assert render("bar 1%\r\x1b[Kbar 2%\rsiamfc: x\n") == ["siamfc: x"]
    assert render("a\nb\x1b[A\rc\n") == ["c", "b"]


@pytest.mark.parametrize("progress", [True, False])
def test_one_input_messages_stand_alone(tmp_path, tiny_video, small_clip, random_slim_weights,
                                        progress, capsys):
    box = ",".join(f"{v:g}" for v in small_clip.boxes[0])
    quiet = [] if progress else ["--quiet"]
    assert main(["track", str(tmp_path / "gone.avi"), "--box", box, "--no-display", *quiet,
                 "--weights", str(random_slim_weights), "--output-boxes", str(tmp_path / "a.csv")]) == 2
    failed = message_lines(capsys.readouterr().err)
    assert len(failed) == 1 and failed[0].startswith("siamfc: error: ") and "gone.avi" in failed[0]
    assert_alone(failed)
    assert main(["track", str(tiny_video), "--box", box, "--no-display", *quiet,
                 "--weights", str(random_slim_weights), "--output-boxes", str(tmp_path / "b.csv")]) == 0
    done = message_lines(capsys.readouterr().err)
    assert len(done) == (1 if progress else 0)
    assert_alone(done)


def test_several_inputs_messages_stand_alone(tmp_path, tiny_video, small_clip, random_slim_weights,
                                             capsys):
    box = ",".join(f"{v:g}" for v in small_clip.boxes[0])
    code = main(["track", str(tiny_video), str(tmp_path / "gone.avi"), str(tiny_video),
                 "--box", box, "--no-display", "--weights", str(random_slim_weights),
                 "--output-dir", str(tmp_path / "out"), "--no-video"])
    assert code == 2
    lines = message_lines(capsys.readouterr().err)
    assert_alone(lines)
    assert sum(line.startswith("siamfc: error: ") for line in lines) == 1
    assert sum(" frames in " in line for line in lines) == 2
    assert lines[-1] == "2 of 3 inputs tracked, 1 failed (see above)"


def test_missing_camera_is_one_line(random_slim_weights, capfd):
    """OpenCV's own [ WARN]/[ERROR] lines about the camera are silenced (checked at the file
    descriptor: OpenCV writes there, not through Python)."""
    assert main(["webcam", "--camera", "9", "--box", "1,2,30,30", "--no-display",
                 "--weights", str(random_slim_weights)]) == 2
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert err == ["siamfc: error: camera 9 could not be opened; check that it is connected "
                   "(and not used by another program), or try another camera index"]


@pytest.mark.parametrize("command", [["webcam", "--camera", "9"], ["track", "9"]])
def test_a_missing_camera_is_said_before_a_missing_display(command, random_slim_weights,
                                                           capfd):
    """No camera, no display, no box: the camera is what is missing first."""
    assert main([*command, "--no-display", "--weights", str(random_slim_weights)]) == 2
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "camera 9 could not be opened" in err[0] and "--camera" not in err[0]


@pytest.mark.slow
def test_a_text_file_named_mp4_is_one_line(tmp_path, random_slim_weights):
    """In a fresh process, as a user runs it: our line and nothing else (no FFmpeg message)."""
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video\n")
    done = subprocess.run([sys.executable, "-m", "tracker", "track", str(fake), "--box", "1,1,5,5",
                           "--no-display", "--weights", str(random_slim_weights),
                           "--output-boxes", str(tmp_path / "a.csv")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    lines = render(done.stderr)
    assert len(lines) == 1 and lines[0].startswith("siamfc: error: ") and "notes.mp4" in lines[0]


def test_an_input_refused_at_once_leaves_no_bar(tmp_path, random_slim_weights, capsys,
                                                monkeypatch):
    """On a terminal, a bar waits a second before it shows: a refused input leaves one line."""
    monkeypatch.setattr(console, "BAR_DELAY", 1.0)
    assert main(["track", str(tmp_path / "gone.avi"), "--box", "1,1,5,5", "--no-display",
                 "--weights", str(random_slim_weights), "--output-boxes",
                 str(tmp_path / "a.csv")]) == 2
    lines = render(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith("siamfc: error: ")


def test_no_bar_lines_in_a_log(tmp_path, tiny_video, small_clip, random_slim_weights, capsys,
                               monkeypatch):
    """stderr that is not a terminal (a log file) gets the messages and no bar lines."""
    monkeypatch.setattr(console, "on_terminal", lambda: False)
    box = ",".join(f"{v:g}" for v in small_clip.boxes[0])
    assert main(["track", str(tiny_video), "--box", box, "--no-display", "--weights",
                 str(random_slim_weights), "--output-boxes", str(tmp_path / "b.csv")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "frame/s" not in err and " frames in " in err
