"""What this CPU runs fast: CPU description, ``auto`` precision by CPU, slow-precision warnings."""
from __future__ import annotations

import pytest
import torch

from tracker.cli import main
from tracker.model import runtime
from tracker.model.runtime import CPUInfo, cpu_info, int8_pays, precision_warning

AVX512_VNNI_BF16 = CPUInfo("Intel Xeon", "AVX512", avx2=True, vnni=True, bf16=True)
AVX2_ONLY = CPUInfo("AMD EPYC", "AVX2", avx2=True, vnni=False, bf16=False)
NO_AVX2 = CPUInfo("Old Atom", "DEFAULT", avx2=False, vnni=False, bf16=False)


@pytest.fixture
def fake_cpu(monkeypatch):
    """Replace this machine's CPU description by a given one."""
    def use(info: CPUInfo) -> None:
        monkeypatch.setattr(runtime, "cpu_info", lambda: info)
    return use


def test_this_cpu_is_described():
    info = cpu_info()
    assert info.name and info.capability == torch.backends.cpu.get_cpu_capability()
    text = info.describe()
    assert info.name in text and info.capability in text and "VNNI" in text and "BF16" in text


@pytest.mark.parametrize("info,pays", [(AVX512_VNNI_BF16, True), (AVX2_ONLY, True), (NO_AVX2, False)])
def test_int8_pays_with_avx2(info, pays):
    assert int8_pays(info) == (pays and runtime.int8_available())


@pytest.mark.parametrize("info,precision,warned", [
    (AVX2_ONLY, "bf16", True), (AVX512_VNNI_BF16, "bf16", False), (NO_AVX2, "int8", True),
    (AVX2_ONLY, "int8", False), (AVX2_ONLY, "fp32", False), (NO_AVX2, "fp32", False)])
def test_slow_precisions_are_named(fake_cpu, info, precision, warned):
    fake_cpu(info)
    message = precision_warning(precision, torch.device("cpu"))
    assert (message is not None) == warned
    if warned:
        assert precision in message and info.name in message and info.capability in message


def test_no_cpu_warning_for_cuda(fake_cpu):
    fake_cpu(AVX2_ONLY)
    assert precision_warning("bf16", torch.device("cuda")) is None


@pytest.mark.parametrize("info,warned", [(AVX2_ONLY, True), (AVX512_VNNI_BF16, False)])
def test_cli_warns_once_about_emulated_bf16(fake_cpu, info, warned, tmp_path, random_slim_weights,
                                            capsys):
    fake_cpu(info)
    assert main(["demo", "--frames", "3", "--dtype", "bf16", "--device", "cpu", "--quiet",
                 "--weights", str(random_slim_weights), "--output-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert err.count("siamfc: warning: bf16 is emulated") == (1 if warned else 0)


def fake_calibration(seed: int = 0) -> dict:
    from tracker.model.quantize import FINGERPRINT_KEY
    return {FINGERPRINT_KEY: torch.arange(32, dtype=torch.uint8) + seed}


@pytest.mark.parametrize("int8_s,expected", [(0.5, "int8"), (0.94, "int8"), (0.97, "fp32"),
                                             (1.3, "fp32")])
def test_faster_precision_measures_once_then_uses_the_cache(tmp_path, monkeypatch, int8_s, expected):
    from tracker.model import timing
    monkeypatch.setenv("SIAMFC_CACHE_DIR", str(tmp_path))
    calls = []

    def measure(backbone, calibration, size, crops):
        calls.append(size)
        return {"fp32": 1.0, "int8": int8_s}

    def must_not_measure(*args):
        raise AssertionError("measured again although cached")

    assert timing.faster_precision(None, fake_calibration(), "CPU A", measure_fn=measure) == expected
    assert timing.faster_precision(None, fake_calibration(), "CPU A",
                                   measure_fn=must_not_measure) == expected
    assert (tmp_path / "precision.json").is_file() and calls == [255]
    # another CPU or other weights are measured anew
    timing.faster_precision(None, fake_calibration(), "CPU B", measure_fn=measure)
    timing.faster_precision(None, fake_calibration(1), "CPU A", measure_fn=measure)
    assert len(calls) == 3


def test_faster_precision_without_a_writable_cache(tmp_path, monkeypatch):
    from tracker.model import timing
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SIAMFC_CACHE_DIR", str(blocker / "sub"))
    assert timing.faster_precision(None, fake_calibration(), "CPU",
                                   measure_fn=lambda *a: {"fp32": 1.0, "int8": 2.0}) == "fp32"


def test_auto_precision_mode_is_checked(monkeypatch):
    from tracker.model import timing
    monkeypatch.setenv("SIAMFC_AUTO_PRECISION", "fastest")
    with pytest.raises(ValueError, match="SIAMFC_AUTO_PRECISION"):
        timing.timing_enabled()


def test_time_backbone_times_a_module():
    from tracker.model import timing
    assert timing.time_backbone(torch.nn.Conv2d(3, 4, 3), 32, crops=2, repeats=2) > 0
