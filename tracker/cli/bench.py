"""``siamfc bench``: time the tracking loop stage by stage, and OpenCV's trackers on the same
frames."""
from __future__ import annotations

import argparse
import time

import numpy as np

from .errors import EXIT_OK, UserError
from .options import (PRESET_NAMES, add_dtype_option, add_settings_option, add_weights_options,
                      tracker_config, weights_from_args)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time the tracking loop stage by stage (and OpenCV's CSRT)")
    p.add_argument("--source", help="video file or image folder (default: a generated 640x360 clip)")
    p.add_argument("--device", default="auto")
    p.add_argument("--targets", type=int, default=1, help="also time N targets at once")
    p.add_argument("--preset", default="siamfc-3s", choices=PRESET_NAMES)
    add_settings_option(p)
    p.add_argument("--frames", type=int, default=300, help="updates timed")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    add_weights_options(p)
    p.add_argument("--no-opencv", action="store_true", help="skip OpenCV's trackers")
    add_dtype_option(p)

    p.add_argument("--nano-backbone", help="OpenCV NanoTrack backbone ONNX")
    p.add_argument("--nano-head", help="OpenCV NanoTrack neck/head ONNX")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..diagnostics.benchmark import bench_opencv, bench_siamfc, format_table
    from ..diagnostics.synthetic import make_clip
    from ..evaluation.adapters import TrackerSpec, opencv_factory
    from ..media.video import FrameSource
    from ..model.runtime import resolve_device
    from ..siamfc import SiamFCMultiTracker

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

    weights, backbone = weights_from_args(args)
    pretrained = weights.is_file()
    if args.dtype == "int8" and not pretrained:
        raise UserError(f"--dtype int8 needs a weights file and its calibration; {weights} not found")
    weights_note = str(weights) if pretrained else \
        "random (no weights file; speed does not depend on the weights)"
    tracker = SiamFCMultiTracker.from_pretrained(weights, device=device, backbone=backbone,
                                                 config=tracker_config(args),
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
