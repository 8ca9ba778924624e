"""What made a results folder: versions, weights, precision and CPU, stored beside the results
(``results/<tracker>/provenance.json``) so that results of another setup are never reused or
compared unknowingly. Results without the file (e.g. from another toolkit) are scored as they
are and reported as of unknown provenance."""
from __future__ import annotations

import dataclasses
import json
import os
import platform
from pathlib import Path

from ..confidence import score_model_file
from ..model.weights import file_sha256
from ..steps.online import uses_online
from .adapters import ONNX_USED, TrackerSpec, tracker_config, weights_path

FILE = "provenance.json"
# what changes the boxes a tracker produces; the rest (CPU name, Python) is recorded only
# (per tracker: ours do not read ONNX files, OpenCV's neither torch nor our network)
COMPARED_SIAMFC = ("siamfc", "torch", "opencv", "precision", "device", "cpu_capability",
                   "weights_sha256", "score_model_sha256", "config")
COMPARED_OPENCV = ("siamfc", "opencv", "onnx_sha256")
NAMES = {"siamfc": "siamfc", "torch": "torch", "opencv": "OpenCV", "precision": "precision",
         "device": "device", "cpu_capability": "CPU capability", "weights_sha256": "weights",
         "score_model_sha256": "score model", "onnx_sha256": "ONNX files",
         "config": "tracker settings"}


def weights_file(spec: TrackerSpec) -> Path | None:
    """The weights file a SiamFC spec loads (None for other trackers)."""
    if not spec.name.startswith("siamfc"):
        return None
    return weights_path(spec)


def provenance(spec: TrackerSpec) -> dict:
    """What is making ``spec``'s results here and now (``spec`` resolved: no ``auto``)."""
    import cv2
    import torch

    from .. import __version__
    from ..model.runtime import cpu_info
    info = {"tracker": spec.label, "siamfc": __version__, "torch": torch.__version__,
            "opencv": cv2.__version__, "python": platform.python_version(),
            "cpu": cpu_info().describe(), "cpu_capability": cpu_info().capability}
    weights = weights_file(spec)
    if weights is not None:
        cfg = tracker_config(spec)
        config = dataclasses.asdict(cfg)
        info.update(precision=spec.dtype, runtime=spec.runtime, device=spec.device,
                    settings=dict(spec.settings),
                    config={k: v for k, v in config.items() if k != "name"},
                    weights=str(weights),
                    weights_sha256=file_sha256(weights) if weights.is_file() else "missing")
        scorer = score_model_file(weights, uses_online(cfg, spec.name.startswith("siamfc-box")))
        info["score_model_sha256"] = file_sha256(scorer) if scorer is not None else "none"
        if not str(spec.device).startswith("cpu"):
            info["cpu_capability"] = "-"          # the CPU does not run the network
    used = {k: v for k, v in spec.onnx.items() if k in ONNX_USED.get(spec.name, ())}
    if used:
        info["onnx_sha256"] = {k: file_sha256(v) if Path(v).is_file() else "missing"
                               for k, v in sorted(used.items())}
    info["compared"] = list(COMPARED_SIAMFC if weights is not None else COMPARED_OPENCV)
    return info


def read_provenance(folder: Path) -> dict | None:
    """The stored provenance of a results folder; None when it has none (or it is unreadable)."""
    try:
        data = json.loads((folder / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_provenance(folder: Path, info: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{FILE}.tmp"
    tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / FILE)


def differences(stored: dict, current: dict) -> list[str]:
    """``["OpenCV 5.1.0 (now 5.0.0)", ...]``: what differs between two provenances, among
    what the current tracker uses (its ``compared`` keys; ONNX files only those it loads)."""
    out = []
    for key in current.get("compared", COMPARED_SIAMFC + COMPARED_OPENCV[2:]):
        if stored.get(key) != current.get(key):
            was, now = stored.get(key, "unknown"), current.get(key, "unknown")
            if key == "config" and not isinstance(was, dict):
                out.append(f"{NAMES[key]} not recorded (results made before they were)")
                continue
            if key == "config" and isinstance(now, dict):
                changed = sorted(k for k in set(was) | set(now) if was.get(k) != now.get(k))
                out.append(f"{NAMES[key]} " + ", ".join(
                    f"{k}={was.get(k, 'unknown')} (now {now.get(k, 'unknown')})" for k in changed))
                continue
            if key.endswith("sha256"):
                was, now = _short(was), _short(now)
            out.append(f"{NAMES[key]} {was} (now {now})")
    return out


def _short(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_short(v)}" for k, v in value.items())
    return str(value)[:12]
