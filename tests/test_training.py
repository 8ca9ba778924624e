"""Training building blocks on generated data (the full recipe is benchmarked, not tested)."""
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tracker.geometry import context_size
from tracker.training.losses import (CONTRASTIVE_MARGIN, balanced_weights, contrastive_loss,
                                    distill_loss, label_map, logistic_loss, triplet_loss)
from tracker.training.pairs import PairConfig, PairDataset
from tracker.training.sequences import TrainSequence, read_got_style
from tracker.training.trainer import TrainConfig, Trainer, learning_rate, read_history
from tracker.model.weights import load_model


def make_got_root(root: Path, num_seqs: int = 3, frames: int = 6, step: int = 30) -> Path:
    rng = np.random.default_rng(0)
    names = []
    for s in range(num_seqs):
        name = f"seq{s}"
        names.append(name)
        folder = root / name
        folder.mkdir(parents=True)
        lines = []
        for i in range(frames):
            img = np.full((160, 200, 3), 40 + 50 * s, np.uint8)
            x, y = 60 + 4 * i, 50 + 2 * i
            img[y:y + 40, x:x + 50] = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
            cv2.imwrite(str(folder / f"{i * step:08d}.jpg"), img)
            lines.append(f"{x},{y},50,40")
        (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    (root / "list.txt").write_text("\n".join(names) + "\n")
    return root


def test_label_map_disc():
    labels = label_map(17, (8, 8), 2)
    assert labels.sum() == 13 and labels[8, 8] == 1 and labels[8, 10] == 1 and labels[8, 11] == 0
    shifted = label_map(17, (10, 8), 2)
    assert shifted[8, 10] == 1 and shifted[8, 7] == 0


def test_balanced_weights_and_logistic_loss():
    labels = torch.zeros(2, 1, 17, 17)
    labels[0, 0, 8, 8] = 1
    w = balanced_weights(labels)
    assert w[0][labels[0] > 0].sum() == pytest.approx(0.5)
    assert w[0][labels[0] == 0].sum() == pytest.approx(0.5)
    assert w[1].sum() == pytest.approx(1.0)         # negative pair: all weight on negatives
    # zero logits: loss = log 2 per unit weight
    assert logistic_loss(torch.zeros(2, 1, 17, 17), labels).item() == pytest.approx(np.log(2), rel=1e-5)
    good = torch.where(labels > 0, 10.0, -10.0)
    assert logistic_loss(good, labels).item() < 1e-3


def test_triplet_loss_orders_positives_over_negatives():
    labels = torch.from_numpy(label_map(17, (8, 8), 2))[None, None]
    assert triplet_loss(torch.zeros(1, 1, 17, 17), labels).item() == pytest.approx(np.log(2), rel=1e-5)
    good = torch.where(labels > 0, 5.0, -5.0)
    bad = -good
    assert triplet_loss(good, labels) < 1e-3 < triplet_loss(bad, labels)


def test_contrastive_loss_pulls_matches_in_and_pushes_others_past_the_margin():
    labels = torch.from_numpy(label_map(17, (8, 8), 2))[None, None]
    energy_at = lambda v: torch.nn.functional.softplus(-torch.tensor(v)).item()   # noqa: E731
    # zero logits: energy log 2 everywhere; positives pay (log 2)^2 / 2, negatives (m - log 2)^2 / 2
    zero = contrastive_loss(torch.zeros(1, 1, 17, 17), labels).item()
    expected = 0.5 * np.log(2) ** 2 / 2 + 0.5 * (CONTRASTIVE_MARGIN - np.log(2)) ** 2 / 2
    assert zero == pytest.approx(expected, rel=1e-5)
    good = torch.where(labels > 0, 12.0, -3.0)          # negatives beyond the margin: no cost
    assert energy_at(-3.0) > CONTRASTIVE_MARGIN and contrastive_loss(good, labels).item() < 1e-8
    assert contrastive_loss(-good, labels) > zero
    # a negative inside the margin costs, and the gradient pushes its logit down
    logits = torch.full((1, 1, 17, 17), -3.0, requires_grad=True)
    with torch.no_grad():
        logits[labels > 0] = 12.0
        logits[0, 0, 0, 0] = 0.0
    contrastive_loss(logits, labels).backward()
    assert logits.grad[0, 0, 0, 0] > 0 and logits.grad[0, 0, 0, 1] == 0


def test_reader_and_pair_sampler(tmp_path):
    root = make_got_root(tmp_path / "data", frames=6, step=30)
    (root / "seq2" / "groundtruth.txt").write_text("1,2,3\n" + "60,50,50,40\n" * 5)
    seqs, problems = read_got_style(root)
    assert len(seqs) == 3 and any("groundtruth.txt:1" in p for p in problems)
    assert seqs[0].indices.tolist() == [0, 30, 60, 90, 120, 150]
    ds = PairDataset(seqs, 200, PairConfig(max_gap=60, neg_prob=0.3), seed=1)
    rng = np.random.default_rng(0)
    negatives = 0
    for _ in range(300):
        sz, fz, sx, fx, negative = ds.sample_pair(rng)
        if negative:
            negatives += 1
            assert sx != sz
        else:
            assert sx == sz and abs(seqs[sz].indices[fz] - seqs[sx].indices[fx]) <= 60
            assert not (sz == 2 and (fz == 0 or fx == 0))   # the broken line is never used
    assert 40 < negatives < 140
    z, x, labels, box, skipped = ds[0]
    assert z.shape == (3, 127, 127) and x.shape == (3, 255, 255) and labels.shape == (1, 17, 17)
    assert int(skipped) == 0 and box.shape == (4,)
    central = PairDataset(seqs, 10, PairConfig(instance_size=239), seed=1)
    assert central[0][1].shape == (3, 239, 239) and central[0][2].shape == (1, 15, 15)


@pytest.mark.parametrize("jitter", [0.0, 0.2, 0.6])
def test_colour_jitter_stays_in_range_and_keeps_grey_grey(jitter):
    ds = PairDataset([TrainSequence("s", ("a.jpg",), np.array([0]), np.array([[0, 0, 4, 4.0]]))],
                     1, PairConfig(color_jitter=jitter))
    rng = np.random.default_rng(3)
    img = np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype(np.float32)
    img[:16] = img[:16, :, :1]   # top half grey
    for _ in range(20):
        out = ds._color(img.copy(), rng)
        assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 255
        assert np.allclose(out[:16, :, 0], out[:16, :, 2], atol=1e-3)   # grey stays grey
    if jitter == 0:
        assert np.array_equal(ds._color(img.copy(), rng), img)


@pytest.mark.slow
def test_short_training_lowers_loss_and_resumes(tmp_path):
    torch.manual_seed(0)
    seqs, _ = read_got_style(make_got_root(tmp_path / "data"))
    cfg = TrainConfig(epochs=2, pairs_per_epoch=40, batch_size=4, workers=0, lr_start=1e-2,
                      lr_end=1e-3, backbone="alexnet_slim",   # the cheapest network to train
                      pairs=PairConfig(neg_prob=0.0, color_jitter=0.0))
    trainer = Trainer(seqs, tmp_path / "run", cfg)
    losses = []
    trainer.train(on_step=lambda i, n, loss: losses.append(loss))
    assert len(losses) == 20
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 3
    load_model(tmp_path / "run" / "epoch_002.pth")
    again = Trainer(seqs, tmp_path / "run", cfg)
    assert again.resume() and again.epoch == 2 and again.step == 20
    for k, v in again.model.state_dict().items():
        torch.testing.assert_close(v, trainer.model.state_dict()[k])
    assert again.train() == []   # nothing left to do


@pytest.mark.parametrize("bad", [1e8, 1e12])
def test_a_diverged_epoch_is_refused_and_not_saved(tmp_path, bad):
    """A weight blown up in epoch 2 while the loss stays finite: training stops before that
    epoch is written, naming the largest tensor (the blow-up spreads to the BatchNorm
    statistics behind it) and the last good file."""
    seqs, _ = read_got_style(make_got_root(tmp_path / "data"))
    cfg = TrainConfig(epochs=2, pairs_per_epoch=16, batch_size=4, workers=0,
                      backbone="alexnet_slim", pairs=PairConfig(neg_prob=0.0))
    trainer = Trainer(seqs, tmp_path / "run", cfg)
    name = next(k for k, v in trainer.model.state_dict().items() if v.is_floating_point())
    calls = []

    def blow_up(*_):
        calls.append(1)
        if len(calls) == 6:                       # the second step of epoch 2
            with torch.no_grad():
                weight = trainer.model.state_dict()[name]
                weight[(0,) * weight.dim()] = bad

    with pytest.raises(FloatingPointError, match=r"epoch 2: \S+ reached .*epoch_001\.pth"):
        trainer.train(on_step=blow_up)
    assert (tmp_path / "run" / "epoch_001.pth").is_file()
    assert not (tmp_path / "run" / "epoch_002.pth").exists()


@pytest.mark.parametrize("clip", [0.0, 1e-9])
def test_grad_clip_bounds_each_step(tmp_path, clip):
    seqs, _ = read_got_style(make_got_root(tmp_path / "data"))
    cfg = TrainConfig(epochs=1, pairs_per_epoch=8, batch_size=4, workers=0, momentum=0.0,
                      weight_decay=0.0, backbone="alexnet_slim", grad_clip=clip)
    trainer = Trainer(seqs, tmp_path / "run", cfg)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train()
    moved = sum(float((p.detach() - b).norm()) for p, b in zip(trainer.model.parameters(), before))
    # two steps of at most lr_start x clip each, or a real move without clipping
    assert (moved <= 2 * cfg.lr_start * 1e-9 * 1.01) if clip else moved > 1e-4
    with pytest.raises(ValueError, match="grad_clip"):
        TrainConfig(grad_clip=-1.0)


@pytest.mark.parametrize("value,ok", [(2500.0, True), (2e6, False), (float("inf"), False),
                                      (float("nan"), False)])
def test_largest_weight_and_a_broken_file(tmp_path, random_weights, value, ok):
    from tracker.errors import WeightsError
    from tracker.model.weights import healthy, largest_weight, load_state_dict
    state = load_state_dict(random_weights)
    name = next(k for k in state if k.endswith("running_var"))
    state[name] = state[name].clone()
    state[name][0] = value
    top = largest_weight(state)
    assert top[0] == name and healthy(top[1]) == ok
    torch.save(state, tmp_path / "w.pth")
    if ok:
        load_model(tmp_path / "w.pth")
    else:
        with pytest.raises(WeightsError, match=f"{tmp_path / 'w.pth'} is broken: {name}"):
            load_model(tmp_path / "w.pth")


def test_metrics_csv_gains_the_columns_of_a_resuming_version(tmp_path):
    """A run resumed by a version that writes more (or other) columns keeps one valid table:
    the header is the union, earlier rows blank in the new columns (NaN when read back)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch,loss,weights\n1,2.5,a.pth\n")
    stub = object.__new__(Trainer)
    stub.run_dir = run
    Trainer._append_csv(stub, {"epoch": 2, "loss": 2.0, "box_iou": 0.5, "weights": "b.pth"})
    Trainer._append_csv(stub, {"epoch": 3, "loss": 1.5, "box_iou": 0.6, "weights": "c.pth"})
    lines = (run / "metrics.csv").read_text().splitlines()
    assert lines == ["epoch,loss,weights,box_iou", "1,2.5,a.pth,", "2,2,b.pth,0.5", "3,1.5,c.pth,0.6"]
    rows = read_history(run)
    assert np.isnan(rows[0]["box_iou"]) and rows[2]["box_iou"] == 0.6 and rows[1]["weights"] == "b.pth"


def test_learning_rate_schedule():
    cfg = TrainConfig(lr_start=1e-2, lr_end=1e-5)
    assert learning_rate(cfg, 0, 100) == pytest.approx(1e-2)
    assert learning_rate(cfg, 99, 100) == pytest.approx(1e-5)


def make_vid_root(root: Path) -> Path:
    video = "ILSVRC2015_train_00000000"
    data = root / "Data" / "VID" / "train" / "a" / video
    ann = root / "Annotations" / "VID" / "train" / "a" / video
    data.mkdir(parents=True)
    ann.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(data / f"{i:06d}.JPEG"), np.zeros((50, 60, 3), np.uint8))
        objs = "".join(
            f"<object><trackid>{t}</trackid><bndbox><xmax>{20 + t}</xmax><xmin>{10 + t}</xmin>"
            f"<ymax>30</ymax><ymin>5</ymin></bndbox></object>" for t in ((0, 1) if i < 2 else (1,)))
        (ann / f"{i:06d}.xml").write_text(f"<annotation>{objs}</annotation>")
    return root


def test_vid_reader_one_track_per_object(tmp_path):
    from tracker.training.readers import detect_layout, read_training_root
    root = make_vid_root(tmp_path / "vid")
    assert detect_layout(root) == "vid"
    seqs, problems = read_training_root(root)
    assert sorted(len(s.frames) for s in seqs) == [2, 3] and not problems
    track1 = next(s for s in seqs if s.name.endswith("/1"))
    np.testing.assert_allclose(track1.boxes[0], [11, 5, 11, 26])
    assert track1.indices.tolist() == [0, 1, 2]


def test_mixing_roots_with_weights(tmp_path):
    from tracker.training.readers import read_training_roots
    a = make_got_root(tmp_path / "a", num_seqs=3)
    b = make_vid_root(tmp_path / "b")
    seqs, weights, _ = read_training_roots([str(a), str(b)], [3.0, 1.0])
    assert len(seqs) == 5
    np.testing.assert_allclose(weights[:3], [1.0] * 3)
    np.testing.assert_allclose(weights[3:], [0.5, 0.5])
    with pytest.raises(ValueError):
        read_training_roots([str(a)], [1.0, 2.0])


@pytest.mark.slow
def test_train_cli_with_validation_and_plot(tmp_path):
    from tracker.cli import main
    from tracker.training.trainer import read_history

    from .test_eval import make_otb
    data = make_got_root(tmp_path / "data")
    dev = make_otb(tmp_path / "dev", n_seqs=1, frames=4)
    code = main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1",
                 "--pairs-per-epoch", "8", "--batch-size", "4", "--workers", "0", "--device", "cpu",
                 "--val", str(dev), "--quiet"])
    assert code == 0
    rows = read_history(tmp_path / "run")
    assert len(rows) == 1 and 0.0 <= rows[0]["dev_auc"] <= 1.0
    assert (tmp_path / "run" / "epoch_001.pth").is_file()


def test_train_skips_unreadable_frames_and_counts_them(tmp_path, capsys):
    from tracker.cli import main
    from tracker.training.trainer import read_history
    data = make_got_root(tmp_path / "data")
    frames = sorted((data / "seq0").glob("*.jpg"))
    for f in frames[1:4]:
        f.write_bytes(b"not a jpeg")      # corrupt
    frames[4].unlink()                     # missing
    code = main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1",
                 "--pairs-per-epoch", "16", "--batch-size", "4", "--workers", "0", "--device", "cpu",
                 "--backbone", "alexnet_slim"])
    assert code == 0
    rows = read_history(tmp_path / "run")
    assert rows[0]["skipped"] > 0
    assert f"{int(rows[0]['skipped'])} unreadable frames skipped" in capsys.readouterr().err


@pytest.mark.slow
def test_two_process_gloo_training(tmp_path):
    """``torchrun --nproc_per_node 2`` on CPU (gloo): both ranks step, rank 0 checkpoints."""
    import subprocess
    import sys
    data = make_got_root(tmp_path / "data")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", "29517", "-m", "tracker", "train", "--data", str(data),
           "--out", str(tmp_path / "run"), "--epochs", "1", "--pairs-per-epoch", "8",
           "--batch-size", "2", "--workers", "0", "--device", "cpu", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    state = torch.load(tmp_path / "run" / "last.pth", weights_only=True)
    assert state["epoch"] == 1 and state["step"] == 2      # 4 steps in all, 2 per rank


@pytest.mark.parametrize("values, message", [
    ({"neg_prob": 1.5}, "neg_prob is a probability"),
    ({"occlude_prob": -0.1}, "occlude_prob is a probability"),
    ({"shift": float("nan")}, "shift must be a finite number"),
    ({"color_jitter": 1.0}, "color_jitter must be < 1"),
    ({"instance_size": 250}, "multiple of total_stride"),
    ({"max_gap": 0}, "max_gap must be a positive integer"),
    ({"flip_prob": True}, "flip_prob is a probability"),
    ({"flip": 0.5}, "unknown keys ['flip']"),
])
def test_pair_config_rejects_bad_values(values, message):
    with pytest.raises(ValueError) as err:
        PairConfig.from_dict(values)
    assert message in str(err.value)


def test_pair_config_without_augmentation_crops_plainly():
    """All augmentations off: the exemplar is the plain context crop, the label disc centred."""
    img = np.random.default_rng(0).integers(0, 256, (200, 240, 3), dtype=np.uint8)
    box = np.array([100.0, 80.0, 40.0, 30.0])
    off = PairConfig.from_dict({"shift": 0, "scale_jitter": 0, "aspect_jitter": 0, "flip_prob": 0,
                                "gray_prob": 0, "color_jitter": 0, "blur_prob": 0,
                                "occlude_prob": 0})
    ds = PairDataset([TrainSequence("s", ("a.jpg",), np.array([0]), box[None])], 1, off)
    z, x, labels, in_crop = ds.make_pair(img, box, img, box, False, np.random.default_rng(1))
    z2, x2, _, _ = ds.make_pair(img, box, img, box, False, np.random.default_rng(2))
    np.testing.assert_array_equal(z, z2)          # nothing random left in the crops
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(labels, label_map(17, (8, 8), 2))
    # the target's box in the search crop: centred, at the exemplar's scale (127 px / s_z)
    side = context_size(40.0, 30.0, 0.5)
    np.testing.assert_allclose(in_crop, [127, 127, 40 * 127 / side, 30 * 127 / side], rtol=1e-5)
    _, _, negative_labels, none = ds.make_pair(img, box, img, box, True, np.random.default_rng(1))
    assert not negative_labels.any() and np.isnan(none).all()
    on = PairDataset(ds.sequences, 1, PairConfig())
    za, _, _, _ = on.make_pair(img, box, img, box, False, np.random.default_rng(1))
    assert not np.array_equal(za, z)              # the default recipe does change them


def test_train_cli_set_reaches_the_run_and_resume_checks_it(tmp_path, capsys):
    from tracker.cli import main
    data = make_got_root(tmp_path / "data")
    args = ["train", "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1",
            "--pairs-per-epoch", "8", "--batch-size", "4", "--workers", "0", "--device", "cpu",
            "--backbone", "alexnet_slim", "--quiet"]
    assert main(args + ["--set", "neg_prob=0", "--set", "occlude_prob=0"]) == 0
    saved = torch.load(tmp_path / "run" / "last.pth", weights_only=True)["config"]["pairs"]
    assert saved["neg_prob"] == 0 and saved["occlude_prob"] == 0 and saved["flip_prob"] == 0.5
    # resuming with other augmentation settings is refused, naming the change
    assert main(args + ["--epochs", "2", "--resume", "--set", "neg_prob=0"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume with different settings (pairs.occlude_prob: 0 -> 0.1)" in err
    # the same settings and more epochs continue the run
    assert main(args + ["--epochs", "2", "--resume", "--set", "neg_prob=0",
                        "--set", "occlude_prob=0"]) == 0
    assert (tmp_path / "run" / "epoch_002.pth").is_file()
    assert main(args + ["--set", "bogus=1"]) == 2
    assert "unknown keys ['bogus']" in capsys.readouterr().err


def test_distill_loss_is_a_kl_divergence():
    labels = torch.from_numpy(label_map(17, (8, 8), 2))[None, None].repeat(2, 1, 1, 1)
    teacher = torch.randn(2, 1, 17, 17) * 3
    assert distill_loss(teacher.clone(), teacher, labels).item() == pytest.approx(0, abs=1e-6)
    student = (teacher + 0.5 * torch.randn_like(teacher)).requires_grad_()
    loss = distill_loss(student, teacher, labels)
    assert loss.item() > 0
    loss.backward()   # the gradient points the student's scores towards the teacher's
    assert (torch.sign(student.grad) == torch.sign(student - teacher).detach()).all()
    with pytest.raises(ValueError, match="same crop sizes"):
        distill_loss(torch.zeros(1, 1, 15, 15), torch.zeros(1, 1, 17, 17), labels[:1])


@pytest.mark.slow
def test_distillation_pulls_the_student_to_the_teacher(tmp_path, capsys):
    """A half-width student trained against a teacher's maps only (task loss weight swamped)."""
    from tracker.cli import main
    from tracker.model.network import SiamNet, init_weights
    from tracker.training.trainer import read_history
    torch.manual_seed(1)
    teacher = SiamNet("alexnet_half")
    init_weights(teacher)
    torch.save(teacher.state_dict(), tmp_path / "teacher.pth")
    data = make_got_root(tmp_path / "data")
    code = main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "2",
                 "--pairs-per-epoch", "24", "--batch-size", "4", "--workers", "0", "--device", "cpu",
                 "--backbone", "alexnet_half", "--distill", str(tmp_path / "teacher.pth"),
                 "--distill-weight", "20", "--set", "neg_prob=0"])
    assert code == 0
    rows = read_history(tmp_path / "run")
    assert len(rows) == 2 and rows[-1]["distill"] < rows[0]["distill"]
    assert "distillation" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "run2"), "--quiet",
                 "--distill", str(tmp_path / "missing.pth")]) == 2
    assert "missing.pth" in capsys.readouterr().err
