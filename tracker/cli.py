"""The ``siamfc`` command line: ``track``, ``demo`` and ``train``.

Exit codes: 0 success, 1 runtime failure, 2 bad input (missing file, unreadable video, bad
box, missing weights), 130 interrupted (outputs written so far are complete and valid).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
DTYPE_HELP = ("backbone precision: auto (default: int8 on a CPU when the weights come with their "
              "calibration <weights>.int8.pth, else fp32); fp32 (the reference); bf16 on CPUs "
              "with AVX-512 BF16/AMX; fp16 on CUDA; int8 on the CPU (needs <weights>.int8.pth "
              "from `siamfc quantize`)")


class UserError(Exception):
    """A problem with the user's input: reported on one line, exit code 2."""


def _progress(total: int | None, desc: str, enabled: bool = True, unit: str = "frame",
              position: int | None = None):
    from tqdm import tqdm
    return tqdm(total=total or None, desc=desc, unit=unit, disable=not enabled,
                file=sys.stderr, dynamic_ncols=True, leave=False, position=position)


def has_display() -> bool:
    """True when OpenCV windows can probably be shown (a display server and a GUI build)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or
                                                 os.environ.get("WAYLAND_DISPLAY")):
        return False
    import cv2
    info = cv2.getBuildInformation()
    gui = [line for line in info.splitlines() if "GUI:" in line]
    return not (gui and "NONE" in gui[0].upper())


def _weights(args: argparse.Namespace) -> tuple[Path, str | None]:
    """(weights file, backbone or None to read it from the file) from --weights/--lite/--backbone."""
    from .weights import LITE_BACKBONE, default_weights_path
    if getattr(args, "lite", False):
        if args.weights:
            raise UserError("give --lite or --weights, not both")
        return default_weights_path(LITE_BACKBONE), None
    if args.weights:
        return Path(args.weights), args.backbone
    return default_weights_path(args.backbone or "alexnet"), args.backbone


def _tracker_config(args: argparse.Namespace, redetect: bool | None = None):
    """The ``TrackerConfig`` of --preset with the --set overrides (validated), plus the
    command's ``redetect`` default (a --set of it wins) and --lost-threshold when it has one."""
    from .config import TrackerConfig
    changes = parse_settings(getattr(args, "set", None) or [])
    if redetect is not None and "redetect" not in changes:
        changes["redetect"] = redetect
    config = TrackerConfig.preset(args.preset)
    if getattr(args, "lost_threshold", None) is not None:
        changes["lost_threshold"] = args.lost_threshold
        changes["recover_threshold"] = max(config.recover_threshold, args.lost_threshold)
    return config.replace(**changes) if changes else config


def _build_tracker(args: argparse.Namespace):
    from .siamfc import SiamFCTracker
    weights, backbone = _weights(args)
    return SiamFCTracker.from_pretrained(weights, device=args.device, config=_tracker_config(args),
                                         backbone=backbone, dtype=args.dtype)


# -- track / webcam ---------------------------------------------------------------------------
def _display(args: argparse.Namespace):
    """An OpenCV window unless --no-display or headless."""
    if getattr(args, "no_display", False) or not has_display():
        return None
    from .cli_webcam import CvDisplay
    return CvDisplay()


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


def _multi_tracker(args: argparse.Namespace, redetect: bool | None = None):
    from .siamfc import SiamFCMultiTracker
    weights, backbone = _weights(args)
    return SiamFCMultiTracker.from_pretrained(weights, device=args.device,
                                              config=_tracker_config(args, redetect),
                                              backbone=backbone, dtype=args.dtype)


def cmd_track(args: argparse.Namespace) -> int:
    from .cli_track import expand_inputs, run_track
    from .video import is_live

    live = [s for s in args.inputs if is_live(s)]
    if live:
        if len(args.inputs) > 1:
            raise UserError(f"a camera or stream ({live[0]}) cannot be mixed with other inputs; "
                            "track it alone or use siamfc webcam")
        args.camera = live[0]
        return cmd_webcam(args)
    expand_inputs(args.inputs)   # fail early on a pattern that matches nothing
    return run_track(args, lambda: _multi_tracker(args, redetect=args.redetect),
                     lambda message, force=False: _say(args, message, force),
                     _progress, _display(args))


def cmd_webcam(args: argparse.Namespace) -> int:
    from .cli_webcam import LiveOptions, run_live
    from .geometry import parse_box

    boxes = [parse_box(b) for b in (args.box or [])]
    display = _display(args)
    if not boxes and display is None:
        raise UserError("no --box given and no display to draw one on; pass --box X,Y,W,H "
                        "(0-based pixels)")
    record = getattr(args, "record", None) or getattr(args, "output_video", None)
    options = LiveOptions(record=record, output_boxes=args.output_boxes,
                          box_format=args.format.split(",")[0] if args.format else None,
                          snapshot_dir=getattr(args, "snapshot_dir", ".") or ".",
                          timeout=getattr(args, "timeout", 10.0), boxes=boxes,
                          max_frames=getattr(args, "max_frames", None))
    tracker = _multi_tracker(args, redetect=getattr(args, "redetect", None) is not False)
    stats = run_live(str(args.camera), tracker, display, options)
    _say(args, f"{stats.frames} frames in {stats.seconds:.1f} s "
               f"({stats.frames / max(stats.seconds, 1e-9):.1f} fps), {stats.dropped} stale frames "
               "dropped" + "".join(f"; snapshot {p}" for p in stats.snapshots)
         + (f"; video: {record}" if record else "")
         + (f"; boxes: {args.output_boxes}" if args.output_boxes else ""))
    return EXIT_OK


# -- demo -------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from .annotate import draw_box, draw_text
    from .geometry import iou_ltwh
    from .outputs import CSVBoxWriter
    from .synthetic import make_clip
    from .video import VideoSink

    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clip = make_clip(num_frames=args.frames, seed=args.seed)
    tracker = _build_tracker(args)
    video_path, csv_path = out_dir / "demo_tracked.mp4", out_dir / "demo_boxes.csv"
    boxes = np.zeros_like(clip.boxes)
    start = time.perf_counter()
    with VideoSink(video_path, 30.0) as sink, CSVBoxWriter(csv_path) as writer:
        results = tracker.track(clip.frames, clip.boxes[0])
        for index, (frame, result) in enumerate(zip(clip.frames, results)):
            boxes[index] = result.box
            writer.write(index, [result])
            shown = draw_box(frame, clip.boxes[index], color=(0, 200, 0), thickness=1)
            shown = draw_box(shown, result.box, f"{result.score:.2f}")
            sink.write(draw_text(shown, f"frame {index}  green: truth  red: siamfc"))
    elapsed = time.perf_counter() - start
    iou = iou_ltwh(boxes, clip.boxes)
    _say(args, f"demo: {len(clip.frames)} frames tracked in {elapsed:.1f} s on {tracker.device} "
               f"({tracker.precision}); "
               f"mean IoU {iou.mean():.3f} against the known boxes")
    _say(args, f"outputs in {out_dir.resolve()}: {video_path.name}, {csv_path.name}")
    return EXIT_OK


# -- train ------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    import torch
    import torch.distributed as dist

    from .training.pairs import PairConfig
    from .training.trainer import TrainConfig, Trainer
    from .weights import resolve_device

    device = resolve_device(args.device)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        # launched by torchrun: one process per GPU (nccl) or per CPU worker (gloo)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if rank != 0:
        args.quiet = True
    weights = None
    if args.data_weights:
        try:
            weights = [float(w) for w in args.data_weights.split(",")]
        except ValueError:
            raise UserError(f"--data-weights must be numbers, got {args.data_weights!r}") from None
    sequences, seq_weights, problems = _read_sequences(args, weights)
    validate = None
    if args.val and rank == 0:
        from .training.validation import make_validator
        names = [n for n in (args.val_sequences or "").split(",") if n] or None
        validate = make_validator(args.val, names, device=str(device))
    cfg = TrainConfig(epochs=args.epochs, pairs_per_epoch=args.pairs_per_epoch,
                      batch_size=args.batch_size, loss=args.loss, backbone=args.backbone,
                      workers=args.workers, seed=args.seed, amp=args.amp,
                      distill=args.distill or "", distill_weight=args.distill_weight,
                      pairs=PairConfig.from_dict({"instance_size": args.search_size,
                                                  **parse_settings(args.set or [])}))
    trainer = Trainer(sequences, args.out, cfg, device=device, weights=seq_weights,
                      validate=validate, validate_every=args.val_every)
    if args.resume and trainer.resume():
        _say(args, f"resumed from {Path(args.out) / 'last.pth'} at epoch {trainer.epoch}")
    _say(args, f"training on {len(sequences)} sequences ({len(problems)} problems skipped), "
               f"bf16={trainer.bf16}, device={trainer.device}, processes={trainer.world}")
    bar = _progress(trainer.steps_per_epoch, f"epoch {trainer.epoch + 1}", enabled=not args.quiet,
                    unit="step")

    def on_step(i: int, n: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}")

    def on_epoch(row: dict) -> None:
        bar.reset()
        bar.set_description(f"epoch {row['epoch'] + 1}")
        auc = f" dev AUC {row['dev_auc']:.3f}" if row["dev_auc"] == row["dev_auc"] else ""
        distill = f" (distillation {row['distill']:.4f})" if "distill" in row else ""
        _say(args, f"epoch {row['epoch']}: loss {row['loss']:.4f}{distill} pos {row['pos_score']:.3f} "
                   f"neg {row['neg_score']:.3f} {row['pairs_per_s']:.1f} pairs/s{auc}, "
                   f"{row['skipped']} unreadable frames skipped -> {row['weights']}")

    try:
        trainer.train(on_step=on_step, on_epoch=on_epoch)
    finally:
        bar.close()
        if dist.is_initialized():
            dist.destroy_process_group()
    return EXIT_OK


# -- bench ------------------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from .benchmark import bench_opencv, bench_siamfc, format_table
    from .evaluation.adapters import TrackerSpec, opencv_factory
    from .siamfc import SiamFCMultiTracker
    from .synthetic import make_clip
    from .video import FrameSource
    from .weights import resolve_device

    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    frames: list[np.ndarray] = []
    decode_s: list[float] = []
    if args.source:
        with FrameSource(args.source) as source:
            it = iter(source)
            while len(frames) < min(args.frames + 20, 400):
                start = time.perf_counter()
                frame = next(it, None)
                if frame is None:
                    break
                decode_s.append(time.perf_counter() - start)
                frames.append(frame)
        if len(frames) < 2:
            raise UserError(f"{args.source}: fewer than 2 frames could be read")
        h, w = frames[0].shape[:2]
        box = np.array([w * 0.45, h * 0.4, w * 0.1, h * 0.2])
        source_name = args.source
    else:
        clip = make_clip(num_frames=120, size=(640, 360))
        frames = list(clip.frames)
        box = clip.boxes[0]
        source_name = "generated 640x360 clip"
    h, w = frames[0].shape[:2]
    rng = np.random.default_rng(0)
    boxes = [box]
    for _ in range(args.targets - 1):   # further targets spread over the frame
        bw, bh = box[2], box[3]
        boxes.append([rng.uniform(0, w - bw), rng.uniform(0, h - bh), bw, bh])
    boxes_arr = np.asarray(boxes, dtype=np.float64)

    weights, backbone = _weights(args)
    pretrained = weights.is_file()
    if args.dtype == "int8" and not pretrained:
        raise UserError(f"--dtype int8 needs a weights file and its calibration; {weights} not found")
    weights_note = str(weights) if pretrained else \
        "random (no weights file; speed does not depend on the weights)"
    tracker = SiamFCMultiTracker.from_pretrained(weights, device=device, backbone=backbone,
                                                 config=_tracker_config(args),
                                                 pretrained=pretrained, dtype=args.dtype)
    results = [bench_siamfc(tracker, frames, boxes_arr[:1], args.frames, decode_s=decode_s,
                            name=f"siamfc ({args.preset})")]
    if args.targets > 1:
        results.append(bench_siamfc(tracker, frames, boxes_arr, args.frames, decode_s=decode_s,
                                    name=f"siamfc ({args.preset})"))
    skipped = []
    if not args.no_opencv:
        others = [TrackerSpec("opencv-csrt")]
        if args.nano_backbone and args.nano_head:
            others.append(TrackerSpec("opencv-nano", onnx={"nano_backbone": args.nano_backbone,
                                                           "nano_head": args.nano_head}))
        for spec in others:
            try:
                make = opencv_factory(spec)
            except ValueError as exc:      # e.g. CSRT is only in OpenCV's contrib build
                skipped.append(f"not timed: {exc}")
                continue
            results.append(bench_opencv(spec.name, make, frames, box, args.frames, decode_s))
    print(f"source: {source_name}, {w}x{h}; device: {device}; backbone precision: "
          f"{tracker.precision}; torch threads: {torch.get_num_threads()}; frames timed: "
          f"{args.frames}; weights: {weights_note}")
    print(format_table(results))
    for line in skipped:
        print(line)
    base = results[0]
    for r in results[1:]:
        if r.name.startswith("opencv"):
            print(f"siamfc 1 target / {r.name}: {base.end_to_end_fps / r.end_to_end_fps:.2f}x "
                  "end-to-end fps")
    if args.targets > 1:
        multi = results[1]
        extra = (multi.update_ms[0] - base.update_ms[0]) / (args.targets - 1)
        print(f"cost per additional target: {extra:.2f} ms (median update)")
    return EXIT_OK


# -- soak -------------------------------------------------------------------------------------
def cmd_soak(args: argparse.Namespace) -> int:
    from .soak import run_soak

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise UserError(f"--size must be WIDTHxHEIGHT, got {args.size!r}") from None
    if args.frames < 1 or w < 16 or h < 16:
        raise UserError("--frames must be >= 1 and --size at least 16x16")
    tracker = _multi_tracker(args, redetect=args.redetect)
    bar = _progress(args.frames, "soak", enabled=not args.quiet)
    trace = open(args.trace, "w", encoding="utf-8") if args.trace else None
    done = [0]

    def progress(i: int, rss: float, ms: float) -> None:
        bar.update(i - done[0])
        bar.set_postfix_str(f"RSS {rss:.1f} MiB, {ms:.2f} ms/frame")
        done[0] = i
        if trace is not None:   # written as it goes: a stopped run keeps its figures
            trace.write(f"{i},{rss:.2f},{ms:.3f}\n")
            trace.flush()

    try:
        if trace is not None:
            trace.write("frame,rss_mib,median_ms\n")
        report = run_soak(tracker, args.frames, (w, h), on_progress=progress)
    finally:
        bar.close()
        if trace is not None:
            trace.close()
    print(f"soak: {report.frames} frames of a {w}x{h} generated clip on {tracker.device} "
          f"({tracker.precision}), redetect={tracker.cfg.redetect}, "
          f"{report.lost_frames} lost target-frames")
    print("| | after warm-up | end | change |\n|---|---|---|---|")
    print(f"| RSS MiB | {report.rss_start:.1f} | {report.rss_end:.1f} | {report.rss_growth:+.1f} |")
    print(f"| update ms (median of 200) | {report.ms_start:.2f} | {report.ms_end:.2f} | "
          f"{report.ms_end - report.ms_start:+.2f} |")
    return EXIT_OK


def _read_sequences(args: argparse.Namespace, weights: list[float] | None = None):
    """``--data`` roots -> (sequences, per-sequence weights, problems); problems are reported,
    no usable sequence at all is a ``UserError``."""
    from .training.readers import read_training_roots
    try:
        sequences, seq_weights, problems = read_training_roots(args.data, weights)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    for problem in problems:
        _say(args, f"skipped: {problem}")
    if not sequences:
        raise UserError("no usable training sequences in " + ", ".join(args.data))
    return sequences, seq_weights, problems


# -- quantize ---------------------------------------------------------------------------------
def cmd_quantize(args: argparse.Namespace) -> int:
    import torch

    from .fusion import fold_batchnorm
    from .quantize import calibrate, calibration_crops, calibration_path, int8_available
    from .weights import load_model

    if not int8_available():
        raise UserError("this torch build has no x86 quantized engine; int8 is not available")
    weights, backbone = _weights(args)
    model = fold_batchnorm(load_model(weights, backbone))
    sequences, _, _ = _read_sequences(args)
    out = Path(args.out) if args.out else calibration_path(weights)
    bar = _progress(2 * -(-min(args.frames, sum(int(s.valid().sum()) for s in sequences)) // 16),
                    "calibrating", enabled=not args.quiet, unit="batch")

    def batches():
        for batch in calibration_crops(sequences, num_frames=args.frames, seed=args.seed):
            bar.update(1)
            yield batch

    try:
        state = calibrate(model.backbone, batches())
    finally:
        bar.close()
    tmp = out.with_name(out.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, out)        # never a half-written calibration
    _say(args, f"int8 calibration of {weights} from {args.frames} frames -> {out}")
    return EXIT_OK


# -- eval -------------------------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace) -> int:
    from .config import TrackerConfig
    from .datasets import read_dataset
    from .evaluation import Experiment
    from .evaluation.adapters import TrackerSpec, available_trackers
    from .weights import resolve_device

    errors: list[str] = []
    try:
        sequences = read_dataset(args.root, args.format, errors=errors)
    except (OSError, ValueError) as exc:
        raise UserError(str(exc)) from None
    if args.sequences:
        wanted = [s.strip() for s in args.sequences.split(",") if s.strip()]
        known = {s.name for s in sequences} | {s.name.split("-")[0] for s in sequences}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise UserError(f"unknown sequences {unknown} in {args.root}")
        sequences = [s for s in sequences if s.name in wanted or s.name.split("-")[0] in wanted]
    for problem in errors:
        print(f"siamfc: skipped sequence: {problem}", file=sys.stderr)
    if not sequences:
        raise UserError(f"no usable sequences in {args.root}")
    names = [t.strip() for t in args.trackers.split(",") if t.strip()]
    bad = [n for n in names if n not in available_trackers()]
    if bad:
        raise UserError(f"unknown trackers {bad}; choose from {available_trackers()}")
    device = str(resolve_device(args.device))
    onnx = {k: v for k, v in (("nano_backbone", args.nano_backbone), ("nano_head", args.nano_head),
                              ("vit_model", args.vit_model)) if v}
    settings = parse_settings(args.set or [])
    TrackerConfig.preset("siamfc-3s", **settings)    # bad settings: ValueError (exit 2) up front
    # dtype auto -> the precision used here (int8 or fp32), named in the results folder
    specs = [TrackerSpec(n, args.weights, device, onnx, args.dtype, args.lite_weights,
                         settings).resolved() for n in names]
    experiment = Experiment(sequences, args.results_dir, args.report_dir)
    bar = _progress(len(specs) * len(sequences), "eval", enabled=not args.quiet, unit="seq")
    failures = []

    def on_done(outcome) -> None:
        bar.update(1)
        if not outcome.ok:
            failures.append(f"{outcome.tracker} on {outcome.sequence}: {outcome.message}")
            bar.write(f"siamfc: failed: {failures[-1]}", file=sys.stderr)

    try:
        experiment.run(specs, workers=args.workers, overwrite=args.overwrite, on_done=on_done)
    finally:
        bar.close()
    performance = experiment.report([spec.label for spec in specs], plots=not args.no_plots)
    print((Path(args.report_dir) / "report.md").read_text())
    _say(args, f"results in {args.results_dir}/, reports in {args.report_dir}/")
    return EXIT_FAILURE if (failures or errors or len(performance) < len(names)) else EXIT_OK


# -- parser -----------------------------------------------------------------------------------
def _say(args: argparse.Namespace, message: str, force: bool = False) -> None:
    """A line on stderr (unless --quiet; ``force`` for problems, shown even then)."""
    if force or not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siamfc", description="SiamFC object tracker")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    from .backbones import BACKBONES
    backbone_names = sorted(BACKBONES)

    def weights_options(p: argparse.ArgumentParser) -> None:
        """--weights / --lite / --backbone, read by ``_weights``."""
        p.add_argument("--weights", default=None,
                       help="weights file (default: weights/siamfc_alexnet.pth)")
        p.add_argument("--lite", action="store_true",
                       help="use the lighter network, weights/siamfc_lite.pth (faster on a CPU)")
        p.add_argument("--backbone", choices=backbone_names,
                       help="network of --weights (read from the file when omitted)")

    def dtype_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16", "int8"],
                       help=DTYPE_HELP)

    def settings_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a TrackerConfig field, e.g. --set window_influence=0.2 "
                            "(repeatable)")

    def model_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
        weights_options(p)
        p.add_argument("--preset", default="siamfc-3s", choices=["siamfc-3s", "siamfc-5s"])
        settings_option(p)
        p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
        dtype_option(p)

    def output_options(p: argparse.ArgumentParser) -> None:
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

    p = sub.add_parser("track", help="track targets in videos, image folders, or a camera")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video file, image folder, glob pattern, camera index (0) or stream URL")
    output_options(p)
    p.add_argument("--boxes-json", help="JSON file mapping each input to its box or boxes")
    p.add_argument("--output-dir", help="folder for each input's outputs, named after it")
    p.add_argument("--output-video", help="annotated video (.mp4 or .avi), one input only")
    p.add_argument("--output-frames", help="folder for annotated frames, one input only")
    p.add_argument("--save-frames", action="store_true",
                   help="with --output-dir: annotated frames instead of a video")
    p.add_argument("--no-video", action="store_true", help="with --output-dir: no annotated video")
    p.add_argument("--redetect", action=argparse.BooleanOptionalAction, default=True,
                   help="search the whole frame for a lost target (default on)")
    model_options(p)
    p.set_defaults(func=cmd_track)

    p = sub.add_parser("webcam", help="track live in a camera feed or stream")
    p.add_argument("--camera", default="0", help="camera index or stream URL (default 0)")
    output_options(p)
    p.add_argument("--record", help="save the annotated stream (.mp4 or .avi)")
    p.add_argument("--snapshot-dir", default=".", help="where s saves snapshots")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="seconds without a frame before giving up on the camera")
    p.add_argument("--max-frames", type=int, help="stop after N frames")
    p.add_argument("--redetect", action=argparse.BooleanOptionalAction, default=True,
                   help="search the whole frame for a lost target (default on)")
    model_options(p)
    p.set_defaults(func=cmd_webcam)

    p = sub.add_parser("demo", help="track a generated clip and report the mean IoU")
    p.add_argument("--output-dir", default="siamfc-demo", help="folder for the outputs")
    p.add_argument("--frames", type=int, default=120, help="clip length")
    p.add_argument("--seed", type=int, default=0)
    model_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="time the tracking loop stage by stage (and OpenCV's CSRT)")
    p.add_argument("--source", help="video file or image folder (default: a generated 640x360 clip)")
    p.add_argument("--device", default="auto")
    p.add_argument("--targets", type=int, default=1, help="also time N targets at once")
    p.add_argument("--preset", default="siamfc-3s", choices=["siamfc-3s", "siamfc-5s"])
    settings_option(p)
    p.add_argument("--frames", type=int, default=300, help="updates timed")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    weights_options(p)
    p.add_argument("--no-opencv", action="store_true", help="skip OpenCV's trackers")
    dtype_option(p)

    p.add_argument("--nano-backbone", help="OpenCV NanoTrack backbone ONNX")
    p.add_argument("--nano-head", help="OpenCV NanoTrack neck/head ONNX")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("soak", help="track a looping generated clip for many frames; report "
                                    "memory and time at start and end")
    p.add_argument("--frames", type=int, default=100_000)
    p.add_argument("--size", default="160x120", help="frame size WIDTHxHEIGHT")
    p.add_argument("--trace", help="CSV of frame, RSS (MiB) and median ms, written as the run goes")
    p.add_argument("--redetect", action=argparse.BooleanOptionalAction, default=True)
    model_options(p)
    p.set_defaults(func=cmd_soak)

    p = sub.add_parser("quantize", help="calibrate int8 inference for a weights file "
                                        "(writes <weights>.int8.pth)")
    p.add_argument("--data", action="append", required=True,
                   help="training-style sequences to take calibration crops from (repeatable)")
    weights_options(p)
    p.add_argument("--frames", type=int, default=256, help="annotated frames to sample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output file (default: beside the weights, <weights>.int8.pth)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("eval", help="evaluate trackers on OTB-style sequences")
    p.add_argument("root", help="benchmark folder")
    p.add_argument("--format", default="otb", choices=["otb", "got10k", "lasot", "vot", "uav123"])
    p.add_argument("--sequences", help="comma-separated sequence names (default: all)")
    p.add_argument("--trackers", default="siamfc", help="comma-separated: siamfc, siamfc-5s, siamfc-redetect, "
                   "siamfc-lite, opencv-csrt, opencv-kcf, opencv-mil, opencv-nano, opencv-vit")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--report-dir", default="reports")
    p.add_argument("--workers", type=int, default=1, help="parallel processes")
    p.add_argument("--overwrite", action="store_true", help="re-run even if results exist")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--nano-backbone", help="OpenCV NanoTrack backbone ONNX")
    p.add_argument("--nano-head", help="OpenCV NanoTrack neck/head ONNX")
    p.add_argument("--vit-model", help="OpenCV VitTrack ONNX")
    p.add_argument("--device", default="auto")
    p.add_argument("--weights", default=None, help="weights of the siamfc trackers (default: "
                   "weights/siamfc_alexnet.pth; the backbone is read from the file)")
    p.add_argument("--lite-weights", default=None,
                   help="weights of siamfc-lite (default: weights/siamfc_lite.pth)")
    dtype_option(p)
    settings_option(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("train", help="train SiamFC weights on GOT-10k-style sequences")
    p.add_argument("--data", action="append", required=True,
                   help="training root (repeatable): GOT-10k-style, LaSOT, ILSVRC2015-VID or OTB layout")
    p.add_argument("--data-weights", help="comma-separated sampling weight per --data root")
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics.csv)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--pairs-per-epoch", type=int, default=3200)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--loss", default="logistic", choices=["logistic", "triplet"])
    p.add_argument("--search-size", type=int, default=255, choices=[239, 255],
                   help="search crop side: 255 (what the tracker uses) or the paper's central 239")
    p.add_argument("--backbone", default="alexnet", choices=backbone_names)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a PairConfig field (sampling and augmentation), e.g. "
                        "--set neg_prob=0 --set occlude_prob=0; repeatable")
    p.add_argument("--distill", metavar="TEACHER.pth",
                   help="also train the response maps towards those of these weights (e.g. "
                        "a lighter --backbone learning from weights/siamfc_alexnet.pth)")
    p.add_argument("--distill-weight", type=float, default=1.0,
                   help="weight of the distillation term (default 1)")
    p.add_argument("--workers", type=int, default=1, help="data loader processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--amp", default="auto", choices=["auto", "bf16", "off"])
    p.add_argument("--device", default="auto")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pth")
    p.add_argument("--val", help="OTB-layout folder: dev success AUC after epochs")
    p.add_argument("--val-every", type=int, default=1, help="validate every N epochs (and the last)")
    p.add_argument("--val-sequences", help="comma-separated subset of --val sequences")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``siamfc`` and ``python -m tracker``; returns the exit code."""
    from .cli_track import InputError
    from .errors import SourceError, WeightsError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("siamfc: interrupted; outputs written so far are complete", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UserError, InputError, SourceError, WeightsError, FileNotFoundError, ValueError) as exc:
        if args.debug:
            raise
        print(f"siamfc: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # runtime failure: one line, traceback with --debug
        if args.debug:
            raise
        print(f"siamfc: failed: {type(exc).__name__}: {exc} (run with --debug for details)",
              file=sys.stderr)
        return EXIT_FAILURE
