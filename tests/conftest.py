"""Shared fixtures: devices, a random-weights file, a tiny generated video."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tracker.diagnostics.synthetic import make_clip, write_video
from tracker.model.network import SiamNet, init_weights

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes 3 s or more on 2 cores; "
                                       "python -m pytest -m 'not slow' skips them")


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    return request.param


def random_net(backbone: str) -> SiamNet:
    """A randomly initialised ``backbone`` SiamNet (seeded), in eval mode."""
    torch.manual_seed(0)
    model = SiamNet(backbone)
    init_weights(model)
    return model.eval()


def save_random_weights(folder: Path, backbone: str, name: str) -> Path:
    """A state dict of a randomly initialised ``backbone`` SiamNet (seeded) at folder/name."""
    path = folder / name
    torch.save(random_net(backbone).state_dict(), path)
    return path


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random AlexNet weights (seeded)."""
    return save_random_weights(tmp_path_factory.mktemp("weights"), "alexnet", "random.pth")


@pytest.fixture(scope="session")
def small_clip():
    return make_clip(num_frames=12, size=(160, 120), seed=1)


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory: pytest.TempPathFactory, small_clip) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    write_video(str(path), small_clip.frames, fps=10)
    return path


def random_frame(h: int = 120, w: int = 160, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(autouse=True)
def torch_threads_restored():
    """The command line owns its process's torch threads (``--threads``); tests that run it in
    this process must not leave theirs to the tests after them."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def auto_precision_by_rule_everywhere(tmp_path_factory):
    """``auto`` precision by the CPU rule in tests (timing would make the choice depend on the
    machine), for the whole session: module- and session-scoped fixtures, set up before any
    function-scoped one, build their trackers by the rule too (by timing, a machine where
    OpenVINO measures faster would track them in OpenVINO)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SIAMFC_AUTO_PRECISION", "rule")
        patch.setenv("SIAMFC_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(autouse=True)
def measurement_cache_per_test(monkeypatch, tmp_path_factory):
    """Per-machine measurements of a test go to a cache of its own (tests of the timing set
    SIAMFC_AUTO_PRECISION=time themselves; the session's fixture restores the rule after)."""
    monkeypatch.setenv("SIAMFC_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def random_slim_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random ``alexnet_slim`` weights (seeded): a cheap network for command-line tests that
    check messages and options, not tracking (a sixth of AlexNet's work per frame)."""
    return save_random_weights(tmp_path_factory.mktemp("weights"), "alexnet_slim",
                               "random_slim.pth")
