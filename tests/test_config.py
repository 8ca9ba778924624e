import dataclasses

import pytest

from tracker.config import PRESETS, TrackerConfig


def test_paper_defaults():
    cfg = TrackerConfig()
    assert (cfg.exemplar_size, cfg.instance_size, cfg.total_stride) == (127, 255, 8)
    assert (cfg.num_scales, cfg.scale_step, cfg.scale_penalty, cfg.scale_lr) == (3, 1.0375, 0.9745, 0.59)
    assert cfg.window_influence == 0.176 and cfg.response_up == 16
    assert cfg.response_size == 17 and cfg.upscaled_size == 272
    assert (cfg.min_scale, cfg.max_scale) == (0.2, 5.0)


def test_five_scale_preset():
    cfg = TrackerConfig.preset("siamfc-5s")
    assert (cfg.num_scales, cfg.scale_step, cfg.scale_penalty, cfg.scale_lr,
            cfg.window_influence) == (5, 1.0255, 0.962, 0.34, 0.168)
    assert set(PRESETS) >= {"siamfc-3s", "siamfc-5s"}


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrackerConfig().scale_lr = 0.1  # type: ignore[misc]


def test_unknown_key_and_preset_raise():
    with pytest.raises(ValueError, match="unknown keys"):
        TrackerConfig.from_dict({"scale_lrr": 0.5})
    with pytest.raises(ValueError, match="unknown preset"):
        TrackerConfig.preset("siamfc-7s")


@pytest.mark.parametrize("changes", [
    {"num_scales": 2}, {"num_scales": 0}, {"scale_step": 0.9}, {"scale_penalty": 0.0},
    {"scale_lr": 1.5}, {"window_influence": -0.1}, {"min_scale": 2.0}, {"max_scale": 0.5},
    {"instance_size": 100}, {"instance_size": 250}, {"context": float("nan")},
    {"scale_lr": "0.5"}, {"num_scales": 3.0}, {"box_lr": 1.2}, {"box_window_influence": -0.5},
    {"penalty_k": -0.01}, {"penalty_k": float("inf")}, {"box_gain": "yes"}, {"redetect": 1},
])
def test_bad_values_raise(changes):
    with pytest.raises(ValueError):
        TrackerConfig().replace(**changes)


def test_replace_and_override():
    cfg = TrackerConfig.preset("siamfc-3s", window_influence=0.2)
    assert cfg.window_influence == 0.2
    assert cfg.replace(scale_lr=0.3).scale_lr == 0.3
