"""Option groups shared by several commands (model, weights, precision, settings, box outputs)
and what they turn into: weights paths, a ``TrackerConfig``, trackers, training sequences."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from .console import say
from .errors import UserError

DTYPE_HELP = ("backbone precision: auto (default: int8 on a CPU when the weights come with their "
              "calibration <weights>.int8.pth, else fp32); fp32 (the reference); bf16 on CPUs "
              "with AVX-512 BF16/AMX; fp16 on CUDA; int8 on the CPU (needs <weights>.int8.pth "
              "from `siamfc quantize`)")
PRESET_NAMES = ["siamfc-3s", "siamfc-5s"]


# -- option groups ----------------------------------------------------------------------------
def backbone_names() -> list[str]:
    from ..model.backbones import BACKBONES
    return sorted(BACKBONES)


def add_weights_options(p: argparse.ArgumentParser) -> None:
    """--weights / --lite / --backbone, read by ``weights_from_args``."""
    p.add_argument("--weights", default=None,
                   help="weights file (default: weights/siamfc_alexnet.pth)")
    p.add_argument("--lite", action="store_true",
                   help="use the lighter network, weights/siamfc_lite.pth (faster on a CPU)")
    p.add_argument("--backbone", choices=backbone_names(),
                   help="network of --weights (read from the file when omitted)")


def add_dtype_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16", "int8"],
                   help=DTYPE_HELP)


def add_settings_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a TrackerConfig field, e.g. --set window_influence=0.2 "
                        "(repeatable)")


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Everything that chooses and configures the tracker of a tracking command."""
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    add_weights_options(p)
    p.add_argument("--preset", default="siamfc-3s", choices=PRESET_NAMES)
    add_settings_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    add_dtype_option(p)


def add_output_options(p: argparse.ArgumentParser) -> None:
    """Initial boxes, box files and the window of ``track`` and ``webcam``."""
    p.add_argument("--box", action="append", default=[],
                   help="initial box X,Y,W,H in 0-based pixels; repeat for several targets "
                        "(else drawn on the first frame)")
    p.add_argument("--output-boxes", help="box file: .csv, .json, .mot.txt (MOTChallenge) "
                                          "or .txt (OTB); --format overrides the extension")
    p.add_argument("--format", help="box formats: one or more of csv,json,mot,otb "
                                    "(comma-separated; default csv)")
    p.add_argument("--lost-threshold", type=float,
                   help="score under which a target counts as lost (default 0.6)")
    p.add_argument("--no-display", action="store_true", help="do not open a window")


def add_redetect_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redetect", action=argparse.BooleanOptionalAction, default=True,
                   help="search the whole frame for a lost target (default on)")


# -- what the options mean --------------------------------------------------------------------
def weights_from_args(args: argparse.Namespace) -> tuple[Path, str | None]:
    """(weights file, backbone or None to read it from the file) from --weights/--lite/--backbone."""
    from ..model.weights import LITE_BACKBONE, default_weights_path
    if getattr(args, "lite", False):
        if args.weights:
            raise UserError("give --lite or --weights, not both")
        return default_weights_path(LITE_BACKBONE), None
    if args.weights:
        return Path(args.weights), args.backbone
    return default_weights_path(args.backbone or "alexnet"), args.backbone


def parse_settings(items: Sequence[str]) -> dict:
    """``["num_scales=5", "redetect=true"]`` -> ``{"num_scales": 5, "redetect": True}``
    (values parsed as int, float or boolean; the config validates names and ranges)."""
    out: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set takes KEY=VALUE, got {item!r}")
        low = text.strip().lower()
        if low in ("true", "false"):
            value: object = low == "true"
        else:
            try:
                value = int(low)
            except ValueError:
                try:
                    value = float(low)
                except ValueError:
                    raise UserError(f"--set {key}: {text!r} is not a number or true/false") from None
        out[key.strip()] = value
    return out


def tracker_config(args: argparse.Namespace, redetect: bool | None = None):
    """The ``TrackerConfig`` of --preset with the --set overrides (validated), plus the
    command's ``redetect`` default (a --set of it wins) and --lost-threshold when it has one."""
    from ..config import TrackerConfig
    changes = parse_settings(getattr(args, "set", None) or [])
    if redetect is not None and "redetect" not in changes:
        changes["redetect"] = redetect
    config = TrackerConfig.preset(args.preset)
    if getattr(args, "lost_threshold", None) is not None:
        changes["lost_threshold"] = args.lost_threshold
        changes["recover_threshold"] = max(config.recover_threshold, args.lost_threshold)
    return config.replace(**changes) if changes else config


def build_tracker(args: argparse.Namespace):
    """The single-target tracker the options describe."""
    from ..siamfc import SiamFCTracker
    weights, backbone = weights_from_args(args)
    return SiamFCTracker.from_pretrained(weights, device=args.device, config=tracker_config(args),
                                         backbone=backbone, dtype=args.dtype)


def build_multi_tracker(args: argparse.Namespace, redetect: bool | None = None):
    """The multi-target tracker the options describe (``redetect``: the command's default)."""
    from ..siamfc import SiamFCMultiTracker
    weights, backbone = weights_from_args(args)
    return SiamFCMultiTracker.from_pretrained(weights, device=args.device,
                                              config=tracker_config(args, redetect),
                                              backbone=backbone, dtype=args.dtype)


def training_sequences(args: argparse.Namespace, weights: list[float] | None = None):
    """``--data`` roots -> (sequences, per-sequence weights, problems); problems are reported,
    no usable sequence at all is a ``UserError``."""
    from ..training.readers import read_training_roots
    try:
        sequences, seq_weights, problems = read_training_roots(args.data, weights)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    for problem in problems:
        say(args, f"skipped: {problem}")
    if not sequences:
        raise UserError("no usable training sequences in " + ", ".join(args.data))
    return sequences, seq_weights, problems
