"""The command line's arguments and help: boxes with a leading minus, options after the command,
--version, help text everywhere, and refusing a run that would save nothing."""
from __future__ import annotations

import argparse

import pytest

from tracker import __version__
from tracker.cli import build_parser, main
from tracker.cli.main import join_option_values
from tracker.media.boxfiles import read_box_csv


def run(*args) -> int:
    return main([str(a) for a in args])


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("argv,joined", [
    (["track", "v.mp4", "--box", "-20,-20,30,30"], ["track", "v.mp4", "--box=-20,-20,30,30"]),
    (["--box", "-.5,1,2,3", "--box", "1,2,3,4"], ["--box=-.5,1,2,3", "--box", "1,2,3,4"]),
    (["--box", "--quiet"], ["--box", "--quiet"]),          # an option stays an option
    (["--lost-threshold", "-1"], ["--lost-threshold=-1"]),
    (["--box"], ["--box"])])
def test_values_with_a_leading_minus_are_joined(argv, joined):
    assert join_option_values(argv) == joined


def test_box_with_a_leading_minus_tracks(tmp_path, tiny_video, random_slim_weights):
    out = tmp_path / "b.csv"
    assert run("track", tiny_video, "--box", "-10,-10,40,40", "--no-display", "--quiet",
               "--weights", random_slim_weights, "--output-boxes", out) == 0
    assert float(read_box_csv(out)[0]["x"]) == -10


@pytest.mark.parametrize("box", ["10 20 30 40", "10;20;30;40"])
def test_box_separators_other_than_commas_are_refused(tmp_path, tiny_video, random_slim_weights, box,
                                                      capsys):
    assert run("track", tiny_video, "--box", box, "--no-display", "--weights", random_slim_weights,
               "--output-boxes", tmp_path / "b.csv") == 2
    err = capsys.readouterr().err
    assert "X,Y,W,H" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_before_or_after_the_command(tmp_path, tiny_video, where):
    args = ["track", str(tiny_video), "--box", "1,2,3,4", "--no-display",
            "--weights", str(tmp_path / "missing.pth"), "--output-boxes", str(tmp_path / "b.csv")]
    assert main(args) == 2
    with pytest.raises(Exception, match="missing.pth"):
        main(["--debug", *args] if where == "before" else [*args, "--debug"])


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_before_or_after_the_command(tmp_path, random_slim_weights, where, capsys):
    args = ["demo", "--frames", "3", "--device", "cpu", "--dtype", "fp32", "--weights",
            str(random_slim_weights), "--output-dir", str(tmp_path)]
    assert main(["--quiet", *args] if where == "before" else [*args, "--quiet"]) == 0
    assert "mean IoU" not in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"siamfc {__version__} ") and "torch" in out and "OpenCV" in out


@pytest.mark.parametrize("command", ["track", "webcam", "demo", "bench", "soak", "quantize",
                                     "eval", "train"])
def test_every_command_has_a_description_examples_and_help_for_each_option(command):
    parser = subparsers()[command]
    assert parser.description and len(parser.description) > 40
    assert parser.epilog.startswith("examples:") and f"siamfc {command}" in parser.epilog
    undocumented = [a.option_strings or a.dest for a in parser._actions
                    if not a.help or a.help == argparse.SUPPRESS]
    assert not undocumented
    groups = {g.title for g in parser._action_groups if g._group_actions}
    assert len(groups) >= 2          # options are grouped, not one long list


def test_track_that_would_save_nothing_is_refused(tiny_video, random_slim_weights, capsys):
    assert run("track", tiny_video, "--box", "1,2,30,30", "--no-display", "--weights",
               random_slim_weights) == 2
    err = capsys.readouterr().err
    assert "--output-boxes" in err and "--output-dir" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_threads_option_sets_the_process_threads(random_slim_weights):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "tracker", "bench", "--frames", "2", "--no-opencv",
                          "--device", "cpu", "--threads", "1", "--weights", str(random_slim_weights)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "torch threads: 1;" in out.stdout
