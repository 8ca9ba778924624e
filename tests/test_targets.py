"""The multi-target state: ``Targets.select`` / ``concat`` treat every field alike."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tracker import SiamFCMultiTracker, TrackerConfig
from tracker.targets import Targets


def make_targets(ids: list[int], seed: int = 0) -> Targets:
    """``len(ids)`` targets whose every row differs (so a wrong row shows)."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    targets = Targets.start(ids, rng.uniform(10, 100, (n, 2)), rng.uniform(5, 50, (n, 2)),
                            rng.uniform(20, 80, n), torch.from_numpy(rng.normal(size=(n, 4, 6, 6))))
    targets.low[:] = rng.integers(0, 9, n)
    targets.lost[:] = rng.random(n) < 0.5
    targets.tiles = [rng.uniform(0, 100, (k + 1, 2)) for k in range(n)]
    targets.tile_next[:] = rng.integers(0, 5, n)
    return targets


def rows(targets: Targets, i: int) -> dict:
    """Row ``i`` of every field, as numpy."""
    out = {}
    for f in dataclasses.fields(targets):
        value = getattr(targets, f.name)
        out[f.name] = np.asarray(value[i].numpy() if isinstance(value, torch.Tensor) else value[i])
    return out


def assert_same_row(a: Targets, i: int, b: Targets, j: int) -> None:
    for name, value in rows(a, i).items():
        np.testing.assert_array_equal(value, rows(b, j)[name], err_msg=name)


def test_start_is_confident_and_not_lost():
    t = Targets.start([4, 5], np.array([[1.0, 2], [3, 4]]), np.array([[10.0, 20], [30, 40]]),
                      np.array([7.0, 8]), torch.zeros(2, 3, 6, 6))
    assert len(t) == 2 and t.ids == [4, 5]
    assert not t.lost.any() and (t.low == 0).all() and (t.tile_next == 0).all()
    np.testing.assert_array_equal(t.good, [[1, 2, 10, 20, 7], [3, 4, 30, 40, 8]])
    np.testing.assert_array_equal(t.base_size, t.size)
    t.size[0] = 99                              # the initial size is a copy, not a view
    assert t.base_size[0, 0] == 10


@pytest.mark.parametrize("keep", [[0], [2, 0], [1, 2], [0, 1, 2], [2, 1, 0]])
def test_select_keeps_rows_in_order(keep):
    targets = make_targets([10, 11, 12])
    picked = targets.select(keep)
    assert len(picked) == len(keep) and picked.ids == [10 + k for k in keep]
    for j, i in enumerate(keep):
        assert_same_row(picked, j, targets, i)


def test_select_nothing_is_empty():
    empty = make_targets([1, 2]).select([])
    assert len(empty) == 0 and empty.z_feat is None
    for f in dataclasses.fields(empty):
        value = getattr(empty, f.name)
        assert value is None or len(value) == 0, f.name


@pytest.mark.parametrize("n_a,n_b", [(0, 2), (2, 0), (1, 3), (3, 1)])
def test_concat_appends_every_field(n_a, n_b):
    a = make_targets(list(range(n_a)), seed=1) if n_a else Targets()
    b = make_targets(list(range(100, 100 + n_b)), seed=2) if n_b else Targets()
    both = a.concat(b)
    assert len(both) == n_a + n_b
    for f in dataclasses.fields(both):
        value = getattr(both, f.name)
        assert len(value) == n_a + n_b, f.name
    for i in range(n_a):
        assert_same_row(both, i, a, i)
    for j in range(n_b):
        assert_same_row(both, n_a + j, b, j)


@pytest.mark.slow
def test_removing_a_target_leaves_the_others_as_if_tracked_alone(random_weights, small_clip):
    """(Exclusion off: with it the removed target's place shaped the others' first update.)"""
    frames = small_clip.frames
    boxes = np.array([small_clip.boxes[0], [10, 10, 30, 25], [90, 60, 40, 30]])
    cfg = TrackerConfig(exclusion=False)
    three = SiamFCMultiTracker.from_pretrained(random_weights, device="cpu", config=cfg)
    three.init(frames[0], boxes)
    three.update(frames[1])
    three.remove(1)
    two = SiamFCMultiTracker.from_pretrained(random_weights, device="cpu", config=cfg)
    two.init(frames[0], boxes[[0, 2]])
    two.update(frames[1])
    for frame in frames[2:5]:
        after, alone = three.update(frame), two.update(frame)
        assert [r.target_id for r in after] == [0, 2]
        for a, b in zip(after, alone):
            np.testing.assert_allclose(a.box, b.box, rtol=1e-4, atol=1e-3)
            assert a.score == pytest.approx(b.score, abs=1e-4)
