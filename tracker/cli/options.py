"""Option groups shared by several commands (model, weights, precision, settings, box outputs)
and what they turn into: weights paths, a ``TrackerConfig``, trackers, training sequences."""
from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Sequence

from .console import say
from .errors import UserError

DTYPE_HELP = ("backbone precision: auto (default): fp32, or int8 on an x86 CPU when the weights "
              "come with a calibration <weights>.int8.pth and int8 measures faster (the default, "
              "mobilenetv2_64 and --fast weights carry OpenVINO int8 networks, used where "
              "OpenVINO is installed; --lite and alexnet have torch calibrations); fp32 (the "
              "reference); bf16 on CPUs with AVX-512 BF16/AMX; fp16 on CUDA; int8 on the CPU "
              "(needs <weights>.int8.pth from `siamfc quantize`)")
PRESET_NAMES = ["siamfc-3s", "siamfc-5s", "siamfc-1s"]


# -- option groups ----------------------------------------------------------------------------
Group = "argparse._ActionsContainer"     # a parser or an argument group of one


def _common_options() -> argparse.ArgumentParser:
    """--debug and --quiet, accepted after the command too (SUPPRESS: a value given before
    the command is not reset by the command's default)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks on errors")
    p.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="no progress bars or summaries (errors and warnings still show)")
    return p


def add_command(sub: argparse._SubParsersAction, name: str, summary: str, description: str,
                examples: Sequence[str]) -> argparse.ArgumentParser:
    """A sub-parser with a description and an examples epilog, taking --debug/--quiet."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    return sub.add_parser(name, help=summary, description=textwrap.fill(description, 79),
                          epilog=epilog,
                          parents=[_common_options()],
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def backbone_names() -> list[str]:
    from ..model.backbones import BACKBONES
    return sorted(BACKBONES)


def add_device_option(p: Group) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")


def add_weights_options(p: Group) -> None:
    """--weights / --lite / --backbone / --head, read by ``weights_from_args``."""
    from ..model.weights import DEFAULT_FILES
    p.add_argument("--weights", default=None, metavar="PATH",
                   help="weights file (default: weights/siamfc_mobilenetv2.pth, or $SIAMFC_WEIGHTS)")
    p.add_argument("--lite", action="store_true",
                   help="use the lighter network, weights/siamfc_lite.pth (faster on a CPU)")
    p.add_argument("--fast", action="store_true",
                   help="the fast tracker: the stride-16 network weights/siamfc_mobilenetv2_s16.pth "
                        "and one search crop per frame (--preset siamfc-1s unless given): 2.5-3 "
                        "times the default's update rate, lower accuracy (docs/speed.md)")
    p.add_argument("--backbone", choices=backbone_names(),
                   help="network of --weights (read from the file when omitted); without "
                        "--weights, that network's shipped file: "
                        + ", ".join(f"{b} (weights/{f})" for b, f in DEFAULT_FILES.items())
                        + "; the others (" + ", ".join(b for b in backbone_names()
                                                        if b not in DEFAULT_FILES)
                        + ") have no shipped weights and need --weights")
    p.add_argument("--head", choices=["xcorr", "xcorr-box"], default=None,
                   help="without --weights, the shipped file of that head: xcorr (SiamFC's "
                        "response and 3 scales, default) or xcorr-box (one search crop, the box "
                        "regressed: follows shape changes, about 2x the update rate, lower "
                        "otb-dev accuracy: weights/siamfc_mobilenetv2_box.pth)")


def add_dtype_option(p: Group) -> None:
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16", "int8"],
                   help=DTYPE_HELP)
    p.add_argument("--runtime", default="auto", choices=["auto", "torch", "openvino"],
                   help="what runs the backbone: auto (default): OpenVINO where it is installed "
                        "(pip install \"siamfc[openvino]\") and measures faster on this CPU, "
                        "measured once and cached, else torch; torch; openvino (fp32, bf16 on "
                        "CPUs with AVX-512 BF16/AMX, or int8 with the network of `siamfc "
                        "quantize --openvino`)")


def add_preset_option(p: Group) -> None:
    p.add_argument("--preset", default=None, choices=PRESET_NAMES,
                   help="tracker settings: the paper's 3 scales or 5 scales, or one search crop "
                        "with DSST's scale filter (siamfc-1s); default: the network's "
                        "(siamfc-1s for mobilenetv2_64 and --fast, siamfc-3s for the others)")


def add_settings_option(p: Group) -> None:
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a TrackerConfig field, e.g. --set window_influence=0.2 "
                        "(repeatable)")


def add_model_options(p: argparse.ArgumentParser, threads: str = "0") -> Group:
    """Everything that chooses and configures the tracker, as the "tracker" group (returned,
    for the command's own tracker options); ``threads``: the command's --threads default."""
    group = p.add_argument_group("tracker")
    add_device_option(group)
    add_weights_options(group)
    add_dtype_option(group)
    add_preset_option(group)
    add_settings_option(group)
    group.add_argument("--cuda-graphs", action="store_true",
                       help="replay the backbone from CUDA graphs, one per crop batch shape "
                            "(CUDA only; fewer kernel launches per frame)")
    default = "auto" if threads == "auto" else (
        "torch's, one per core" if threads == "0" else threads)
    group.add_argument("--threads", type=threads_value, default=threads, metavar="N|auto",
                       help="torch threads: N, 0 for torch's default (one per core), or auto: "
                            "torch's default while the machine is quiet, 1 while other programs "
                            f"load the cores (default: {default})")
    return group


def threads_value(text: str) -> str:
    """``auto`` or a whole number >= 0 (argparse type of --threads)."""
    if text != "auto" and not (text.isdigit() and int(text) >= 0):
        raise argparse.ArgumentTypeError(f"expected a number of threads or auto, got {text!r}")
    return text


def non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0."""
    return _whole(text, 0)


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    return _whole(text, 1)


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {least}, got {text!r}")
    return value


def add_lost_options(p: Group) -> None:
    """--lost-threshold and --redetect of the commands that show lost targets."""
    p.add_argument("--lost-threshold", type=float, metavar="SCORE",
                   help="score under which a target counts as lost (default 0.35; "
                        "docs/confidence.md says what it means)")
    add_redetect_option(p)


def add_redetect_option(p: Group) -> None:
    p.add_argument("--redetect", action=argparse.BooleanOptionalAction, default=True,
                   help="search the whole frame for a lost target (default on)")


def add_box_options(p: Group) -> None:
    p.add_argument("--box", action="append", default=[], metavar="X,Y,W,H",
                   help="initial box in 0-based pixels, commas only (--box -5,10,40,60 works); "
                        "repeat for several targets (else drawn on the first frame)")


def add_box_file_options(p: Group) -> None:
    p.add_argument("--output-boxes", metavar="FILE",
                   help="box file: .csv, .json, .mot.txt (MOTChallenge) or .txt (OTB); "
                        "--format overrides the extension")
    p.add_argument("--format", help="box formats: one or more of csv,json,mot,otb "
                                    "(comma-separated; default csv)")


def add_display_option(p: Group) -> None:
    p.add_argument("--no-display", action="store_true", help="do not open a window")


# -- what the options mean --------------------------------------------------------------------
def weights_from_args(args: argparse.Namespace) -> tuple[Path, str | None]:
    """(weights file, backbone or None to read it from the file) from --weights/--lite/--backbone/
    --head."""
    from ..model.weights import FAST_BACKBONE, LITE_BACKBONE, default_weights_path
    head = getattr(args, "head", None)
    if getattr(args, "fast", False):
        given = [o for o, v in (("lite", args.lite), ("weights", args.weights), ("head", head),
                                ("backbone", args.backbone)) if v]
        if given:
            raise UserError(f"give --fast or --{given[0]}, not both")
        return default_weights_path(FAST_BACKBONE), None
    if getattr(args, "lite", False):
        if args.weights or head:
            raise UserError(f"give --lite or --{'weights' if args.weights else 'head'}, not both")
        return default_weights_path(LITE_BACKBONE), None
    if args.weights:
        if head:
            raise UserError("--head picks a shipped weights file; with --weights the head is read "
                            "from the file: drop --head")
        return Path(args.weights), args.backbone
    return default_weights_path(args.backbone, head or "xcorr"), args.backbone


def parse_settings(items: Sequence[str]) -> dict:
    """``["num_scales=5", "redetect=true", "box_peak=cell"]`` -> ``{"num_scales": 5,
    "redetect": True, "box_peak": "cell"}`` (values parsed as int, float or boolean, else kept
    as text; the config validates names, types and ranges)."""
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
                    value = text.strip()
        out[key.strip()] = value
    return out


def preset_name(args: argparse.Namespace) -> str:
    """--preset, else the preset of the network the options pick (``config.preset_for``:
    ``siamfc-1s`` for mobilenetv2_64 and the --fast network, ``siamfc-3s`` for the others)."""
    from ..config import preset_for
    from ..model.weights import network_of
    return getattr(args, "preset", None) or preset_for(network_of(*weights_from_args(args)))


def tracker_config(args: argparse.Namespace, redetect: bool | None = None):
    """The ``TrackerConfig`` of --preset with the --set overrides (validated), plus the
    command's ``redetect`` default (a --set of it wins) and --lost-threshold when it has one."""
    from ..config import TrackerConfig
    changes = parse_settings(getattr(args, "set", None) or [])
    if redetect is not None and "redetect" not in changes:
        changes["redetect"] = redetect
    config = TrackerConfig.preset(preset_name(args))
    if getattr(args, "lost_threshold", None) is not None:
        changes["lost_threshold"] = args.lost_threshold
        changes["recover_threshold"] = max(config.recover_threshold, args.lost_threshold)
    return config.replace(**changes) if changes else config


def thread_policy(args: argparse.Namespace):
    """--threads: set torch's threads (N), leave them (0), or for ``auto`` return the
    ``ThreadGovernor`` that the tracking loop runs each update through (else None). Called
    before the tracker is built (the precision timing is per thread count)."""
    value = str(getattr(args, "threads", "0") or "0")
    if value == "auto":
        from .threads import ThreadGovernor
        return ThreadGovernor()
    if int(value):
        import torch
        torch.set_num_threads(int(value))
    return None


def build_tracker(args: argparse.Namespace):
    """The single-target tracker the options describe."""
    from ..siamfc import SiamFCTracker
    weights, backbone = weights_from_args(args)
    return warn_if_slow(args, SiamFCTracker.from_pretrained(
        weights, device=args.device, config=tracker_config(args), backbone=backbone,
        dtype=args.dtype, cuda_graphs=args.cuda_graphs, runtime=args.runtime))


def build_multi_tracker(args: argparse.Namespace, redetect: bool | None = None):
    """The multi-target tracker the options describe (``redetect``: the command's default)."""
    from ..siamfc import SiamFCMultiTracker
    weights, backbone = weights_from_args(args)
    return warn_if_slow(args, SiamFCMultiTracker.from_pretrained(
        weights, device=args.device, config=tracker_config(args, redetect), backbone=backbone,
        dtype=args.dtype, cuda_graphs=args.cuda_graphs, runtime=args.runtime))


def warn_if_slow(args: argparse.Namespace, tracker):
    """Warn once (shown even with --quiet) when the tracker's precision runs slowly on its
    device, e.g. bf16 on a CPU without AVX-512 BF16; returns ``tracker``."""
    from ..model.runtime import precision_warning
    warning = precision_warning(tracker.precision, tracker.device)
    if warning:
        say(args, f"siamfc: warning: {warning}", force=True)
    return tracker


def running_on(tracker) -> str:
    """``"int8 on cpu: AMD EPYC (AVX2; no VNNI, no BF16)"``: precision and device, for summaries
    (``"fp32 in OpenVINO on cpu: ..."`` when OpenVINO runs the backbone)."""
    from ..model.runtime import describe_device
    where = " in OpenVINO" if tracker.runtime == "openvino" else ""
    return f"{tracker.precision}{where} on {describe_device(tracker.device)}"


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


def require_ray_here(args: argparse.Namespace) -> None:
    """--ray: a one-line ``UserError`` naming the install when Ray is missing; Ray's own log
    lines (e.g. about its token authentication) off unless --debug."""
    import logging

    from ..batch.cluster import require_ray
    try:
        require_ray()
    except ImportError as exc:
        raise UserError(str(exc)) from None
    if not getattr(args, "debug", False):
        logging.getLogger("ray").setLevel(logging.ERROR)
