"""``siamfc eval`` end to end on a generated 2-sequence OTB-layout dataset."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracker.cli import main
from tracker.geometry import zero_based_to_one_based
from tracker.diagnostics.synthetic import make_clip


def make_otb(root: Path, n_seqs: int = 2, frames: int = 6) -> Path:
    for s in range(n_seqs):
        clip = make_clip(num_frames=frames, size=(160, 120), seed=10 + s)
        seq = root / f"Synth{s}"
        (seq / "img").mkdir(parents=True)
        for i, frame in enumerate(clip.frames):
            cv2.imwrite(str(seq / "img" / f"{i + 1:04d}.jpg"), frame)
        np.savetxt(seq / "groundtruth_rect.txt", zero_based_to_one_based(clip.boxes), fmt="%.0f",
                   delimiter=",")
    return root


@pytest.fixture
def otb_root(tmp_path):
    return make_otb(tmp_path / "otb")


@pytest.mark.slow
def test_eval_end_to_end(tmp_path, otb_root, random_weights, capsys):
    results, reports = tmp_path / "results", tmp_path / "reports"
    args = ["eval", str(otb_root), "--trackers", "siamfc,opencv-mil", "--results-dir", str(results),
            "--report-dir", str(reports), "--weights", str(random_weights), "--device", "cpu", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| Synth0 |" in out and "**overall**" in out
    for tracker in ("siamfc@random", "opencv-mil"):
        boxes = np.loadtxt(results / tracker / "Synth1.txt", delimiter=",")
        assert boxes.shape == (6, 4)
        assert (results / tracker / "times" / "Synth1_time.txt").is_file()
        perf = json.loads((reports / tracker / "performance.json").read_text())
        assert set(perf[tracker]) == {"overall", "seq_wise"}
        assert set(perf[tracker]["seq_wise"]) == {"Synth0", "Synth1"}
        assert len(perf[tracker]["overall"]["success_curve"]) == 21
    assert (reports / "report.md").is_file()
    first = (results / "siamfc@random" / "Synth0.txt").read_text()
    # a re-run reuses stored results; --overwrite recomputes them identically (deterministic)
    assert main(args) == 0
    assert main(args + ["--overwrite"]) == 0
    assert (results / "siamfc@random" / "Synth0.txt").read_text() == first


def test_eval_dropped_in_results_are_scored(tmp_path, otb_root):
    """Results from another toolkit (got10k layout) are compared without re-running."""
    gt = np.loadtxt(otb_root / "Synth0" / "groundtruth_rect.txt", delimiter=",") - [1, 1, 0, 0]
    other = tmp_path / "results" / "opencv-kcf"
    other.mkdir(parents=True)
    for s in ("Synth0", "Synth1"):
        g = np.loadtxt(otb_root / s / "groundtruth_rect.txt", delimiter=",") - [1, 1, 0, 0]
        np.savetxt(other / f"{s}.txt", g, fmt="%.3f", delimiter=",")
    assert gt.shape == (6, 4)
    code = main(["eval", str(otb_root), "--trackers", "opencv-kcf", "--results-dir",
                 str(tmp_path / "results"), "--report-dir", str(tmp_path / "reports"), "--quiet",
                 "--no-plots"])
    assert code == 0
    perf = json.loads((tmp_path / "reports" / "opencv-kcf" / "performance.json").read_text())
    assert perf["opencv-kcf"]["overall"]["success_score"] == pytest.approx(20 / 21)


@pytest.mark.slow
def test_eval_bad_sequence_reported_others_run(tmp_path, otb_root, random_weights, capsys):
    (otb_root / "Synth1" / "img" / "0003.jpg").write_bytes(b"broken")
    bad = otb_root / "Broken"
    (bad / "img").mkdir(parents=True)
    (bad / "groundtruth_rect.txt").write_text("1,1,5,5\n")
    code = main(["eval", str(otb_root), "--trackers", "siamfc", "--results-dir", str(tmp_path / "r"),
                 "--report-dir", str(tmp_path / "p"), "--weights", str(random_weights),
                 "--device", "cpu", "--quiet", "--no-plots"])
    assert code == 1
    err = capsys.readouterr().err
    assert "0003.jpg" in err and "Broken" in err
    assert (tmp_path / "r" / "siamfc@random" / "Synth0.txt").is_file()


@pytest.mark.slow
def test_eval_parallel_workers_match_serial(tmp_path, otb_root, random_weights):
    common = ["--trackers", "siamfc", "--weights", str(random_weights), "--device", "cpu",
              "--quiet", "--no-plots"]
    assert main(["eval", str(otb_root), "--results-dir", str(tmp_path / "a"), "--report-dir",
                 str(tmp_path / "ra"), *common]) == 0
    assert main(["eval", str(otb_root), "--results-dir", str(tmp_path / "b"), "--report-dir",
                 str(tmp_path / "rb"), "--workers", "2", *common]) == 0
    for s in ("Synth0", "Synth1"):
        np.testing.assert_allclose(np.loadtxt(tmp_path / "a" / "siamfc@random" / f"{s}.txt", delimiter=","),
                                   np.loadtxt(tmp_path / "b" / "siamfc@random" / f"{s}.txt", delimiter=","),
                                   atol=0.01)


@pytest.mark.slow
def test_eval_settings_get_their_own_folder(tmp_path, otb_root, random_weights):
    """Results with ``--set`` are stored apart from the default's, never mixed with them."""
    common = ["--trackers", "siamfc", "--weights", str(random_weights), "--device", "cpu",
              "--results-dir", str(tmp_path / "r"), "--report-dir", str(tmp_path / "p"),
              "--quiet", "--no-plots"]
    assert main(["eval", str(otb_root), *common, "--set", "num_scales=1"]) == 0
    boxes = np.loadtxt(tmp_path / "r" / "siamfc@random+num_scales=1" / "Synth0.txt", delimiter=",")
    assert boxes.shape == (6, 4)
    assert not (tmp_path / "r" / "siamfc@random").exists()


@pytest.mark.parametrize("name,settings,expected", [
    ("siamfc", {"num_scales": 1}, {"num_scales": 1, "redetect": False}),
    ("siamfc-5s", {"window_influence": 0.3}, {"num_scales": 5, "window_influence": 0.3}),
    ("siamfc-redetect", {"lost_frames": 2}, {"redetect": True, "lost_frames": 2}),
    ("siamfc-redetect", {"redetect": False}, {"redetect": False}),
])
def test_eval_settings_reach_the_tracker(random_weights, name, settings, expected):
    from tracker.evaluation.adapters import SiamFCAdapter, TrackerSpec
    spec = TrackerSpec(name, str(random_weights), settings=settings)
    config = SiamFCAdapter(spec)._tracker.config
    assert {k: getattr(config, k) for k in expected} == expected


@pytest.mark.parametrize("setting", ["no_such_key=1", "num_scales=2", "window_influence"])
def test_eval_bad_setting_exit_2(otb_root, setting, capsys):
    assert main(["eval", str(otb_root), "--set", setting, "--quiet"]) == 2
    assert setting.split("=")[0] in capsys.readouterr().err


def test_eval_unknown_tracker_exit_2(otb_root, capsys):
    assert main(["eval", str(otb_root), "--trackers", "goturn"]) == 2
    assert "goturn" in capsys.readouterr().err


@pytest.mark.parametrize("extra,message", [
    ([], "needs --nano-backbone and --nano-head"),
    (["--nano-backbone", "nope_backbone.onnx", "--nano-head", "nope_head.onnx"],
     "nope_backbone.onnx not found"),
])
def test_eval_unbuildable_opencv_tracker_exit_2_before_running(tmp_path, otb_root, random_weights,
                                                               extra, message, capsys):
    """Checked before any tracker runs: no results are written, one line says what to do."""
    results = tmp_path / "results"
    code = main(["eval", str(otb_root), "--trackers", "siamfc,opencv-nano", *extra, "--weights",
                 str(random_weights), "--device", "cpu", "--results-dir", str(results), "--quiet"])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not results.exists()


def test_eval_contrib_tracker_missing_is_named(tmp_path, otb_root, monkeypatch, capsys):
    """With plain opencv-python (no contrib modules) CSRT cannot be built: exit 2 up front."""
    import tracker.evaluation.adapters as adapters
    fake_cv2 = type("cv2", (), {})()         # an OpenCV without TrackerCSRT_create / legacy
    monkeypatch.setattr(adapters, "cv2", fake_cv2)
    code = main(["eval", str(otb_root), "--trackers", "opencv-csrt", "--results-dir",
                 str(tmp_path / "r"), "--quiet"])
    assert code == 2
    assert "opencv-contrib-python" in capsys.readouterr().err


@pytest.mark.parametrize("spec,label", [
    (dict(name="siamfc"), "siamfc"),
    (dict(name="siamfc", dtype="int8"), "siamfc-int8"),
    (dict(name="siamfc-5s", weights="runs/a/epoch_018.pth"), "siamfc-5s@epoch_018"),
    (dict(name="siamfc-lite", weights="x.pth", dtype="bf16"), "siamfc-lite-bf16"),
    (dict(name="siamfc-lite", lite_weights="runs/h/e.pth"), "siamfc-lite@e"),
    (dict(name="siamfc-box"), "siamfc-box"),
    (dict(name="siamfc-box", weights="x.pth", box_weights="runs/b/epoch_030.pth"),
     "siamfc-box@epoch_030"),
    (dict(name="opencv-csrt", dtype="int8", weights="x.pth"), "opencv-csrt"),
    (dict(name="siamfc-fast", dtype="bf16", runtime="openvino"), "siamfc-fast-bf16-openvino"),
    (dict(name="siamfc", settings={"window_influence": 0.2, "num_scales": 5}, dtype="bf16"),
     "siamfc+num_scales=5+window_influence=0.2-bf16"),
])
def test_results_label_tells_variants_apart(spec, label):
    """Results of another precision or weights file never reuse the default's folder."""
    from tracker.evaluation.adapters import TrackerSpec
    assert TrackerSpec(**spec).label == label


def eval_args(tmp_path, otb_root, random_slim_weights, *extra):
    return ["eval", str(otb_root), "--trackers", "siamfc", "--results-dir", str(tmp_path / "results"),
            "--report-dir", str(tmp_path / "reports"), "--weights", str(random_slim_weights),
            "--device", "cpu", "--dtype", "fp32", "--quiet", "--no-plots", *extra]


def test_eval_records_what_made_the_results_and_heads_the_report(tmp_path, otb_root, random_slim_weights):
    import cv2
    import torch

    from tracker.evaluation.provenance import file_sha256
    assert main(eval_args(tmp_path, otb_root, random_slim_weights)) == 0
    made = json.loads((tmp_path / "results" / "siamfc@random_slim" / "provenance.json").read_text())
    assert made["torch"] == torch.__version__ and made["opencv"] == cv2.__version__
    assert made["precision"] == "fp32" and made["weights_sha256"] == file_sha256(random_slim_weights)
    assert made["cpu"] and made["siamfc"]
    report = (tmp_path / "reports" / "report.md").read_text()
    assert report.startswith("# Tracking results: otb")
    assert "2 sequences, 12 frames" in report and "command: `siamfc eval" in report
    assert file_sha256(random_slim_weights)[:12] in report and cv2.__version__ in report
    overall = report.split("## Overall")[1].split("## Per sequence")[0]
    assert "| tracker | success AUC | precision@20 | normalised precision | fps |" in overall
    assert "| siamfc@random_slim |" in overall


@pytest.mark.parametrize("key,value", [("opencv", "0.0.1"), ("torch", "1.0"),
                                       ("weights_sha256", "0" * 64), ("cpu_capability", "AVX512")])
def test_eval_refuses_results_made_otherwise(tmp_path, otb_root, random_slim_weights, key, value, capsys):
    args = eval_args(tmp_path, otb_root, random_slim_weights)
    assert main(args) == 0
    path = tmp_path / "results" / "siamfc@random_slim" / "provenance.json"
    made = json.loads(path.read_text())
    if made[key] == value:            # this machine is that: another CPU capability then
        value = "AVX2" if value != "AVX2" else "AVX512"
    made[key] = value
    path.write_text(json.dumps(made))
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "(now " in err and len(err.strip().splitlines()) == 1
    assert main(args + ["--overwrite"]) == 0           # redone, and recorded anew
    assert json.loads(path.read_text())[key] != value


def test_eval_refuses_results_made_with_other_tracker_settings(tmp_path, otb_root,
                                                               random_slim_weights, capsys):
    """A default that changed (here: the online model, as results made before it was on by
    default) is caught by the stored settings, and named."""
    args = eval_args(tmp_path, otb_root, random_slim_weights)
    assert main(args) == 0
    path = tmp_path / "results" / "siamfc@random_slim" / "provenance.json"
    made = json.loads(path.read_text())
    assert made["config"]["online"] is True and "name" not in made["config"]
    made["config"]["online"] = False
    path.write_text(json.dumps(made))
    capsys.readouterr()
    assert main(args) == 2
    assert "tracker settings online=False (now True)" in capsys.readouterr().err
    del made["config"]
    path.write_text(json.dumps(made))
    assert main(args) == 2
    assert "tracker settings not recorded" in capsys.readouterr().err


def test_eval_unbuildable_tracker_is_refused_before_any_bar(tmp_path, otb_root, random_slim_weights,
                                                            monkeypatch, capsys):
    from tracker.evaluation import experiment

    def missing(spec):
        raise ValueError(f"{spec.name} needs OpenCV's contrib modules")
    monkeypatch.setattr(experiment, "opencv_factory", missing)
    args = eval_args(tmp_path, otb_root, random_slim_weights)
    args[args.index("siamfc")] = "siamfc,opencv-csrt"
    args.remove("--quiet")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "contrib" in err and "seq" not in err and not (tmp_path / "results").exists()


def test_eval_scores_the_confidence_as_a_failure_detector(tmp_path, otb_root, random_slim_weights):
    from tracker.evaluation.experiment import SCORE_COLUMNS, load_scores
    assert main(eval_args(tmp_path, otb_root, random_slim_weights)) == 0
    results = tmp_path / "results"
    scores = load_scores(results, "siamfc@random_slim", "Synth0")
    assert list(scores) == list(SCORE_COLUMNS) and len(scores["score"]) == 6
    assert scores["score"][0] == 1.0 and np.isnan(scores["cue_peak"][0])
    assert np.all((scores["score"][1:] >= 0) & (scores["score"][1:] <= 1))
    report = (tmp_path / "reports" / "report.md").read_text()
    section = report.split("## Confidence as a failure detector")[1]
    assert "| siamfc@random_slim |" in section and "relative" in section
    stats = json.loads((tmp_path / "reports" / "siamfc@random_slim" / "failures.json").read_text())
    assert stats["siamfc@random_slim"]["score"]["frames"] == 10     # frame 0 of each left out


def test_failures_of_results_without_scores_are_not_reported(tmp_path, otb_root):
    from tracker.evaluation.experiment import Experiment
    from tracker.datasets import read_dataset
    seqs = read_dataset(otb_root, "otb")
    folder = tmp_path / "results" / "other"
    folder.mkdir(parents=True)
    for s in seqs:
        np.savetxt(folder / f"{s.name}.txt", s.boxes, delimiter=",")
    exp = Experiment(seqs, tmp_path / "results", tmp_path / "reports")
    assert exp.failures("other") is None
    exp.report(["other"], plots=False)
    assert "failure detector" not in (tmp_path / "reports" / "report.md").read_text()


@pytest.mark.parametrize("spec,expected", [
    (dict(name="siamfc"), "siamfc_mobilenetv2.pth"),
    (dict(name="siamfc-box", weights="x.pth"), "siamfc_mobilenetv2_box.pth"),
    (dict(name="siamfc-box", box_weights="b.pth"), "b.pth"),
    (dict(name="siamfc-lite", weights="x.pth"), "siamfc_lite.pth"),
    (dict(name="siamfc-5s", weights="x.pth", box_weights="b.pth"), "x.pth"),
    (dict(name="siamfc-fast", weights="x.pth"), "siamfc_mobilenetv2_s16.pth"),
])
def test_each_siamfc_tracker_reads_its_own_weights(spec, expected):
    """siamfc-box reads --box-weights or the shipped box-head file, never --weights; siamfc-fast
    its own file (and its network's one-crop preset)."""
    from tracker.evaluation.adapters import TrackerSpec, tracker_config
    from tracker.evaluation.provenance import weights_file
    assert weights_file(TrackerSpec(**spec)).name == expected
    assert (tracker_config(TrackerSpec(**spec)).scale_estimate == "filter") == (
        spec["name"] == "siamfc-fast")


def test_eval_runs_the_box_head_beside_the_default(tmp_path, otb_root, random_slim_weights):
    """``--trackers siamfc,siamfc-box``: one run, both trackers' results and report rows; the
    box tracker loads --box-weights (a random xcorr-box network here)."""
    import torch

    from tracker.model.network import SiamNet, init_weights, weights_state
    torch.manual_seed(0)
    net = SiamNet("alexnet_slim", head="xcorr-box")
    init_weights(net)
    torch.save(weights_state(net.eval()), tmp_path / "box.pth")
    args = eval_args(tmp_path, otb_root, random_slim_weights, "--box-weights", str(tmp_path / "box.pth"))
    args[args.index("--trackers") + 1] = "siamfc,siamfc-box"
    assert main(args) == 0
    boxes = np.loadtxt(tmp_path / "results" / "siamfc-box@box" / "Synth0.txt", delimiter=",")
    assert boxes.shape == (6, 4)
    report = (tmp_path / "reports" / "report.md").read_text()
    assert "| siamfc-box@box |" in report and "| siamfc@random_slim |" in report


def test_failure_table_says_none_where_there_is_nothing_to_count():
    from tracker.evaluation.experiment import failures_table
    from tracker.evaluation.failures import FailureStats
    nothing = FailureStats(frames=10, roc_auc=float("nan"), failures=0, flagged=0,
                           good_frames=10, good_flagged=1, median_score_held=0.9,
                           median_score_failed=float("nan"))
    row = [line for line in failures_table({"t": {"score": nothing}}).splitlines()
           if line.startswith("| t |")][0]
    assert "nan" not in row and "| - | none | 1 / 10 (10.0%) | 0.90 / - |" in row


def test_nano_options_do_not_touch_siamfcs_stored_results(tmp_path, otb_root,
                                                          random_slim_weights, capsys):
    """siamfc reads no ONNX files: results stored without NanoTrack's options are reused when
    they are given (they name files only opencv-nano loads)."""
    assert main(eval_args(tmp_path, otb_root, random_slim_weights)) == 0
    onnx = tmp_path / "nano.onnx"
    onnx.write_bytes(b"not a network")
    capsys.readouterr()
    assert main(eval_args(tmp_path, otb_root, random_slim_weights, "--nano-backbone", str(onnx),
                          "--nano-head", str(onnx))) == 0
    assert "holds results made with" not in capsys.readouterr().err
    made = json.loads((tmp_path / "results" / "siamfc@random_slim" / "provenance.json")
                      .read_text())
    assert "onnx_sha256" not in made and "onnx_sha256" not in made["compared"]


def test_the_report_covers_every_tracker_in_the_results_folder(tmp_path, otb_root,
                                                               random_slim_weights):
    """A run of another tracker alone keeps the earlier tracker in report.md, named as such."""
    assert main(eval_args(tmp_path, otb_root, random_slim_weights)) == 0
    args = eval_args(tmp_path, otb_root, random_slim_weights)
    args[args.index("--trackers") + 1] = "opencv-mil"
    assert main(args) == 0
    report = (tmp_path / "reports" / "report.md").read_text()
    overall = report.split("## Overall")[1].split("## Per sequence")[0]
    assert "| opencv-mil |" in overall and "| siamfc@random_slim |" in overall
    assert "- trackers: opencv-mil; with results from earlier runs in the same results " \
           "folder: siamfc@random_slim" in report
