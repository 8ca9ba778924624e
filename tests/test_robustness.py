"""OTB's spatial robustness evaluation (``siamfc eval --sre``): perturbed first boxes."""
import json

import numpy as np
import pytest

from tracker.cli import main
from tracker.datasets.base import Sequence
from tracker.evaluation.experiment import track_sequence
from tracker.evaluation.robustness import PERTURBATIONS, perturb_box, spatial_robustness

from .test_eval import make_otb


@pytest.mark.parametrize("dx,dy,scale,expected", [
    (0.0, 0.0, 1.0, [10, 20, 40, 60]),
    (0.1, 0.0, 1.0, [14, 20, 40, 60]),          # right by 10% of the width
    (0.0, -0.1, 1.0, [10, 14, 40, 60]),         # up by 10% of the height
    (-0.1, 0.1, 1.0, [6, 26, 40, 60]),
    (0.0, 0.0, 0.8, [14, 26, 32, 48]),          # about the centre (30, 50)
    (0.0, 0.0, 1.2, [6, 14, 48, 72]),
])
def test_perturb_box(dx, dy, scale, expected):
    np.testing.assert_allclose(perturb_box(np.array([10.0, 20, 40, 60]), dx, dy, scale), expected)


def test_spatial_robustness_copies_each_sequence_twelve_times():
    gt = np.array([[10.0, 20, 40, 60], [12, 21, 40, 60]])
    seqs = [Sequence("A", ("a0", "a1"), gt), Sequence("B", ("b0", "b1"), gt + 5)]
    out = spatial_robustness(seqs)
    assert len(PERTURBATIONS) == 12 and len(out) == 24
    assert [s.name for s in out[:3]] == ["A.sre01", "A.sre02", "A.sre03"]
    assert out[12].name == "B.sre01"
    for s, p in zip(out[:12], PERTURBATIONS):
        np.testing.assert_allclose(s.start_box, perturb_box(gt[0], *p))
        assert s.boxes is gt and s.frames == ("a0", "a1")      # scored against its own truth
    assert len({tuple(s.init) for s in out[:12]}) == 12
    assert seqs[0].init is None and np.array_equal(seqs[0].start_box, gt[0])


def test_spatial_robustness_needs_a_first_box():
    seq = Sequence("Gone", ("f0", "f1"), np.array([[np.nan] * 4, [1.0, 2, 3, 4]]))
    with pytest.raises(ValueError, match="Gone: its first frame has no box"):
        spatial_robustness([seq])


def test_track_sequence_starts_from_the_perturbed_box(tmp_path):
    import cv2
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"{i}.png"))
        cv2.imwrite(paths[-1], np.zeros((20, 30, 3), np.uint8))

    class Recorder:
        name = "rec"

        def init(self, frame, box):
            self.started = np.asarray(box)

        def update(self, frame):
            return self.started

    gt = np.tile([5.0, 5, 10, 10], (3, 1))
    seq = spatial_robustness([Sequence("S", tuple(paths), gt)])[8]       # scaled by 0.8
    rec = Recorder()
    boxes, _, _ = track_sequence(rec, seq)
    np.testing.assert_allclose(rec.started, [6, 6, 8, 8])
    np.testing.assert_allclose(boxes, np.tile([6.0, 6, 8, 8], (3, 1)))


def test_eval_sre_runs_every_perturbation(tmp_path, capsys):
    root = make_otb(tmp_path / "otb", n_seqs=1, frames=4)
    results, reports = tmp_path / "results", tmp_path / "reports"
    assert main(["eval", str(root), "--sre", "--trackers", "opencv-mil", "--results-dir",
                 str(results), "--report-dir", str(reports), "--no-plots", "--quiet"]) == 0
    names = {f"Synth0.sre{k:02d}" for k in range(1, 13)}
    assert {p.stem for p in (results / "opencv-mil").glob("*.txt")} == names
    perf = json.loads((reports / "opencv-mil" / "performance.json").read_text())
    assert set(perf["opencv-mil"]["seq_wise"]) == names
    assert "| Synth0.sre12 |" in capsys.readouterr().out
