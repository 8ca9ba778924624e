"""``siamfc bench``: time the tracking loop stage by stage, and OpenCV's trackers on the same
frames."""
from __future__ import annotations

import argparse
import time

import numpy as np

from .errors import EXIT_OK, UserError
from .options import (add_command, add_model_options, running_on, thread_policy, tracker_config,
                      warn_if_slow, weights_from_args)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "bench", "time the tracking loop stage by stage (and OpenCV's CSRT, or "
                    "MIL without OpenCV's contrib build)",
                    "Time the tracking loop stage by stage (crop, backbone, cross-correlation, "
                    "upsampling and peak, bookkeeping: median and p90 ms), the update and "
                    "end-to-end frame rates, the cost of extra targets, and OpenCV's trackers on "
                    "the same frames. A benchmark: run it on a quiet machine.",
                    ["siamfc bench", "siamfc bench --targets 4 --lite",
                     "siamfc bench --source video.mp4 --nano-backbone nanotrack_backbone.onnx "
                     "--nano-head nanotrack_head.onnx"])
    bench = p.add_argument_group("benchmark")
    bench.add_argument("--source", metavar="VIDEO",
                       help="video file or image folder (default: a generated 640x360 clip)")
    bench.add_argument("--targets", type=int, default=1, help="also time N targets at once")
    bench.add_argument("--frames", type=int, default=300, help="updates timed (default 300)")
    bench.add_argument("--load", type=int, default=0, metavar="N",
                       help="time next to N competitor processes that each keep a core busy "
                            "(started and ended by the benchmark)")
    bench.add_argument("--compare", action="append", metavar="WEIGHTS",
                       help="also time the tracker with these weights (1 target, same settings "
                            "and --dtype), e.g. weights/siamfc_alexnet.pth; repeatable")
    others = p.add_argument_group("OpenCV trackers")
    others.add_argument("--no-opencv", action="store_true", help="skip OpenCV's trackers")
    others.add_argument("--nano-backbone", metavar="ONNX", help="OpenCV NanoTrack backbone ONNX")
    others.add_argument("--nano-head", metavar="ONNX", help="OpenCV NanoTrack neck/head ONNX")
    add_model_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..diagnostics.benchmark import format_table
    from ..diagnostics.load import busy_load
    from ..diagnostics.synthetic import make_clip
    from ..media.video import FrameSource
    from ..model.runtime import resolve_device
    from ..siamfc import SiamFCMultiTracker

    device = resolve_device(args.device)
    governor = thread_policy(args)
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

    weights, backbone = weights_from_args(args)
    pretrained = weights.is_file()
    if args.dtype == "int8" and not pretrained:
        raise UserError(f"--dtype int8 needs a weights file and its calibration; {weights} not found")
    weights_note = str(weights) if pretrained else \
        "random (no weights file; speed does not depend on the weights)"
    tracker = SiamFCMultiTracker.from_pretrained(weights, device=device, backbone=backbone,
                                                 config=tracker_config(args),
                                                 pretrained=pretrained, dtype=args.dtype,
                                                 cuda_graphs=args.cuda_graphs, runtime=args.runtime)
    warn_if_slow(args, tracker)
    if args.load < 0:
        raise UserError(f"--load takes a number of competitor processes >= 0, got {args.load}")
    with busy_load(args.load):
        results, skipped = _time_all(args, tracker, frames, box, boxes_arr, decode_s, governor)
    print(f"source: {source_name}, {w}x{h}; backbone precision: {running_on(tracker)}; "
          f"torch threads: {torch.get_num_threads()}"
          + (f" (auto: {governor.switches} switches)" if governor else "")
          + ("; CUDA graphs" if args.cuda_graphs else "")
          + f"; competitor processes: {args.load}; "
          f"frames timed: {args.frames}; weights: {weights_note}")
    print(format_table(results))
    for line in skipped:
        print(line)
    base = results[0]
    for r in results[1:]:
        if r.name.startswith("opencv") or r.name != base.name:
            print(f"siamfc 1 target / {r.name}: {base.end_to_end_fps / r.end_to_end_fps:.2f}x "
                  f"end-to-end fps, {r.update_ms[0] / base.update_ms[0]:.2f}x update rate")
    if args.targets > 1:
        multi = results[1]
        extra = (multi.update_ms[0] - base.update_ms[0]) / (args.targets - 1)
        print(f"cost per additional target: {extra:.2f} ms (median update)")
    return EXIT_OK


def _search(tracker, args: argparse.Namespace) -> str:
    """How a tracker searches: the scale preset, or the box head's single crop."""
    return "box head, 1 crop" if tracker.box_head else tracker.cfg.name


def _time_all(args: argparse.Namespace, tracker, frames: list, box, boxes_arr, decode_s: list,
              governor=None):
    """Time siamfc (1 and ``--targets`` targets) and OpenCV's trackers on the same frames;
    returns (results, lines about trackers that could not be timed)."""
    from ..diagnostics.benchmark import bench_opencv, bench_siamfc
    from ..evaluation.adapters import TrackerSpec, opencv_factory
    from ..siamfc import SiamFCMultiTracker

    results = [bench_siamfc(tracker, frames, boxes_arr[:1], args.frames, decode_s=decode_s,
                            name=f"siamfc ({_search(tracker, args)})", governor=governor)]
    if args.targets > 1:
        results.append(bench_siamfc(tracker, frames, boxes_arr, args.frames, decode_s=decode_s,
                                    name=f"siamfc ({_search(tracker, args)})", governor=governor))
    for path in args.compare or []:
        other = SiamFCMultiTracker.from_pretrained(path, device=tracker.device,
                                                   config=tracker_config(args), dtype=args.dtype,
                                                   runtime=args.runtime)
        results.append(bench_siamfc(other, frames, boxes_arr[:1], args.frames, decode_s=decode_s,
                                    name=f"siamfc {other.model.backbone_name} {other.precision}"
                                         f"{'-openvino' if other.runtime == 'openvino' else ''} "
                                         f"({_search(other, args)})", governor=governor))
    skipped = []
    if not args.no_opencv:
        others = [TrackerSpec("opencv-csrt")]
        try:
            opencv_factory(others[0])
        except ValueError as exc:          # CSRT is only in OpenCV's contrib build: MIL is not
            skipped.append(f"not timed: {exc}; OpenCV's MIL timed instead")
            others = [TrackerSpec("opencv-mil")]
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
    return results, skipped
