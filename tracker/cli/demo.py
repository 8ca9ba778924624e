"""``siamfc demo``: track a generated clip with known boxes, write the annotated video and boxes,
report the mean IoU."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .console import say
from .errors import EXIT_OK, UserError
from .options import add_command, add_model_options, build_tracker, running_on, thread_policy


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "demo", "track a generated clip and report the mean IoU",
                    "Render a short synthetic clip with known boxes (a textured object moving, "
                    "changing scale and briefly occluded), track it, write the annotated video "
                    "and the boxes, and print the mean IoU against the known boxes.",
                    ["siamfc demo", "siamfc demo --lite --output-dir demo-lite",
                     "siamfc demo --dtype fp32 --frames 240"])
    demo = p.add_argument_group("demo")
    demo.add_argument("--output-dir", default="siamfc-demo", metavar="DIR",
                      help="folder for the outputs (default siamfc-demo)")
    demo.add_argument("--frames", type=int, default=120, help="clip length (default 120)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the generated clip")
    demo.add_argument("--still", type=int, metavar="N",
                      help="also save annotated frame N as demo_still.jpg")
    add_model_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import cv2

    from ..diagnostics.synthetic import make_clip
    from ..geometry import iou_ltwh
    from ..media.annotate import draw_box, draw_text
    from ..media.boxfiles import CSVBoxWriter
    from ..media.video import VideoSink

    out_dir = Path(args.output_dir)
    if args.still is not None and not 0 <= args.still < args.frames:
        raise UserError(f"--still {args.still}: the clip has frames 0 to {args.frames - 1}")
    out_dir.mkdir(parents=True, exist_ok=True)
    clip = make_clip(num_frames=args.frames, seed=args.seed)
    thread_policy(args)     # N threads; auto leaves torch's default (no loop to govern)
    tracker = build_tracker(args)
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
            shown = draw_text(shown, f"frame {index}  green: truth  red: siamfc")
            sink.write(shown)
            if index == args.still:
                cv2.imwrite(str(out_dir / "demo_still.jpg"), shown)
    elapsed = time.perf_counter() - start
    iou = iou_ltwh(boxes, clip.boxes)
    say(args, f"demo: {len(clip.frames)} frames tracked in {elapsed:.1f} s, "
              f"{running_on(tracker)}; mean IoU {iou.mean():.3f} against the known boxes")
    say(args, f"outputs in {out_dir.resolve()}: {video_path.name}, {csv_path.name}"
        + (", demo_still.jpg" if args.still is not None else ""))
    return EXIT_OK
