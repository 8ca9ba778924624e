"""``siamfc track``: annotate video files and image folders (several per call), or hand a
camera / stream over to the live loop of ``siamfc webcam``.

Per input: initial boxes from ``--box`` (repeatable), ``--boxes-json`` or drawn on the first
frame; outputs (box files in one or more formats, an annotated video or annotated frames) named
after the input; a bad input is reported and skipped, the others run.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SourceError
from ..geometry import parse_box
from ..media.annotate import draw_status, draw_targets
from ..media.boxfiles import EXTENSIONS, format_for_path, parse_formats
from ..batch.tracking import JobReport, TrackJob, track_job
from ..media.video import VIDEO_EXTENSIONS, VideoSink, is_live
from ..siamfc import SiamFCMultiTracker
from . import webcam
from .console import progress, say
from .display import open_display
from .errors import UserError
from .options import (add_box_file_options, add_box_options, add_command, add_display_option,
                      add_lost_options, add_model_options, build_multi_tracker,
                      non_negative_int, positive_int, running_on, thread_policy)
from .threads import ThreadGovernor


class InputError(Exception):
    """A problem with one input (or its boxes): reported, and the other inputs still run."""


@dataclass
class InputPlan:
    """One input and where its outputs go."""

    source: str
    name: str
    boxes: list[tuple[float, float, float, float]]
    box_files: list[tuple[Path, str]] = field(default_factory=list)    # (path, format)
    video: Path | None = None
    frames_dir: Path | None = None

    @property
    def outputs(self) -> list[str]:
        """Every output path of this input."""
        return [str(p) for p, _ in self.box_files] + [str(p) for p in (self.video, self.frames_dir) if p]


def expand_inputs(items: list[str]) -> list[str]:
    """Files, folders, cameras and URLs as given; glob patterns expanded (sorted)."""
    out: list[str] = []
    for item in items:
        if not is_live(item) and any(c in item for c in "*?[") and not Path(item).exists():
            matches = sorted(glob.glob(item))
            if not matches:
                raise InputError(f"{item}: the pattern matches no file")
            out.extend(matches)
        else:
            out.append(item)
    return out


def input_name(source: str) -> str:
    """Output base name of an input: a video's stem, a folder's name."""
    path = Path(source.rstrip("/\\"))
    return path.name if path.is_dir() else path.stem or "input"


def load_boxes_json(path: str) -> dict[str, list[tuple[float, float, float, float]]]:
    """``{"input": [x, y, w, h] or [[x, y, w, h], ...]}`` -> input -> list of boxes."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (--boxes-json)") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); expected {{\"video.mp4\": [x, y, w, h]}}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected an object mapping each input to its boxes")
    out = {}
    for key, value in data.items():
        rows = value if value and isinstance(value[0], (list, tuple)) else [value]
        try:
            out[str(key)] = [parse_box(",".join(str(v) for v in row)) for row in rows]
        except (TypeError, ValueError) as exc:
            raise InputError(f"{path}: boxes of {key!r}: {exc}") from None
    return out


def boxes_for(source: str, given: list, mapping: dict | None) -> list:
    """The initial boxes of ``source``: ``--box`` values, else its ``--boxes-json`` entry
    (matched by the path as given, resolved, file name or stem)."""
    if given:
        return list(given)
    if mapping:
        path = Path(source)
        for key in (source, str(path.resolve()), path.name, input_name(source)):
            if key in mapping:
                return mapping[key]
    return []


def plan_outputs(args: argparse.Namespace, sources: list[str], mapping: dict | None) -> list[InputPlan]:
    """Where each input's outputs go (raises ``InputError`` on contradictory options)."""
    several = len(sources) > 1
    if several and (args.output_video or args.output_boxes or args.output_frames):
        raise InputError("with several inputs use --output-dir (--output-video, --output-boxes "
                         "and --output-frames name one file)")
    formats = parse_formats(args.format) if args.format else None
    plans, used = [], set()
    for source in sources:
        name = input_name(source)
        base, k = name, 2
        while name in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        given = [parse_box(b) for b in args.box]
        plan = InputPlan(source, name, boxes_for(source, given, mapping))
        if args.output_dir:
            out = Path(args.output_dir)
            plan.box_files = [(out / f"{name}{EXTENSIONS[f]}", f) for f in (formats or ["csv"])]
            if args.save_frames:
                plan.frames_dir = out / f"{name}_frames"
            elif not args.no_video:
                plan.video = out / f"{name}.mp4"
        if args.output_boxes:
            fmt = formats[0] if formats else format_for_path(args.output_boxes)
            plan.box_files.append((Path(args.output_boxes), fmt))
        if args.output_video:
            plan.video = VideoSink.check(args.output_video)
        if args.output_frames:
            plan.frames_dir = Path(args.output_frames)
        plans.append(plan)
    return plans


def job_for(plan: InputPlan, start_frame: int = 0, max_frames: int | None = None) -> TrackJob:
    """The library's ``TrackJob`` of an input's plan."""
    return TrackJob(plan.source, tuple(plan.boxes), tuple((str(p), f) for p, f in plan.box_files),
                    str(plan.video) if plan.video else None,
                    str(plan.frames_dir) if plan.frames_dir else None, start_frame, max_frames)


def track_input(plan: InputPlan, tracker: SiamFCMultiTracker, display, bar,
                select_boxes=None, governor: ThreadGovernor | None = None,
                start_frame: int = 0, max_frames: int | None = None) -> JobReport:
    """Track one input into its outputs (``batch.track_job``), each update through
    ``governor`` when given, shown on ``display`` and counted on ``bar``. Problems before the
    first frame raise ``InputError``; errors after it leave every output valid with the frames
    done so far and are returned in the report, not raised."""
    if not plan.boxes and select_boxes is None:
        raise InputError(f"{plan.source}: no initial box (pass --box or --boxes-json, or draw "
                         "one on the first frame with a display)")

    def on_frame(index: int, frame: np.ndarray, results: list) -> None:
        bar.update(1)
        if display is not None:
            shown = draw_targets(frame, results)
            display.show(draw_status(shown, f"{plan.name}  frame {index}", "q quit"))
            if display.key(1) in (ord("q"), 27):
                raise KeyboardInterrupt

    try:
        return track_job(job_for(plan, start_frame, max_frames), tracker,
                         update=(lambda f: governor.run(tracker.update, f)) if governor else None,
                         choose_boxes=select_boxes,
                         on_start=lambda total: bar.reset(total=total), on_frame=on_frame)
    except (SourceError, ValueError) as exc:
        raise InputError(str(exc)) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "track", "track targets in videos, image folders, or a camera",
                    "Track one or more targets through video files or image folders (several "
                    "inputs run one after the other) and write box files and annotated videos. "
                    "A camera index or stream URL goes to the live view of `siamfc webcam`.",
                    ["siamfc track video.mp4 --box 315,140,112,115 --output-boxes boxes.csv",
                     "siamfc track video.mp4 --box 155,137,24,56 --box 312,97,20,48 "
                     "--output-video out.mp4 --no-display",
                     "siamfc track 'clips/*.avi' --boxes-json init.json --output-dir out "
                     "--format csv,mot"])
    inputs = p.add_argument_group("input")
    inputs.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="video file, image folder, glob pattern, camera index (0) or "
                             "stream URL")
    add_box_options(inputs)
    inputs.add_argument("--boxes-json", metavar="FILE",
                        help="JSON file mapping each input to its box or boxes")
    inputs.add_argument("--start-frame", type=non_negative_int, default=0, metavar="N",
                        help="start at frame N (0-based; the boxes are on it; frames before "
                             "it are decoded and skipped; default 0)")
    inputs.add_argument("--max-frames", type=positive_int, metavar="N",
                        help="track at most N frames of each input (the first included)")
    outputs = p.add_argument_group("outputs (at least one, unless a window shows the tracking)")
    add_box_file_options(outputs)
    outputs.add_argument("--output-video", metavar="FILE",
                         help=f"annotated video ({', '.join(VIDEO_EXTENSIONS)}), one input only")
    outputs.add_argument("--output-frames", metavar="DIR",
                         help="folder for annotated frames, one input only")
    outputs.add_argument("--output-dir", metavar="DIR",
                         help="folder for each input's outputs, named after it")
    outputs.add_argument("--save-frames", action="store_true",
                         help="with --output-dir: annotated frames instead of a video")
    outputs.add_argument("--no-video", action="store_true",
                         help="with --output-dir: no annotated video")
    add_lost_options(add_model_options(p, threads="auto"))
    cluster = p.add_argument_group("many videos, many machines (needs the ray extra)")
    cluster.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                         help="one Ray task per input: alone, a local Ray instance on this "
                              "machine; with an ADDRESS (auto, ray://host:10001) the running "
                              "cluster's (inputs and --output-dir on storage every node sees)")
    cluster.add_argument("--ray-cpus", type=positive_int, default=1, metavar="N",
                         help="CPUs per task, its torch threads (default 1: on 2 cores, two "
                              "1-CPU tasks at a time tracked as many frames per second as one "
                              "2-CPU task, and more tasks share a bigger machine; "
                              "docs/many-videos.md)")
    add_display_option(p.add_argument_group("display"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``siamfc track``: a camera or stream goes to the live loop, files to ``track_files``."""
    live = [s for s in args.inputs if is_live(s)]
    if live:
        if len(args.inputs) > 1:
            raise UserError(f"a camera or stream ({live[0]}) cannot be mixed with other inputs; "
                            "track it alone or use siamfc webcam")
        args.camera = live[0]
        return webcam.run(args)
    expand_inputs(args.inputs)   # fail early on a pattern that matches nothing
    return track_files(args, open_display(args))


def track_files(args: argparse.Namespace, display) -> int:
    """The ``track`` command over all inputs; returns the exit code: 0, 2 when an input was bad
    (the others are still tracked), 1 when an output could not be written."""
    try:
        sources = expand_inputs(args.inputs)
        mapping = load_boxes_json(args.boxes_json) if args.boxes_json else None
        plans = plan_outputs(args, sources, mapping)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if display is None and not any(p.outputs for p in plans):
        raise InputError("nothing would be saved and no window shows the tracking: pass "
                         "--output-boxes FILE, --output-video FILE, --output-frames DIR or "
                         "--output-dir DIR")
    if display is None:
        missing = [p.source for p in plans if not p.boxes]
        if missing and len(plans) == 1:
            raise InputError("no --box given and no display to draw one on; pass --box X,Y,W,H "
                             "(0-based pixels) or --boxes-json")
    if args.ray is not None:
        return track_on_ray(args, plans)
    governor = thread_policy(args)
    tracker: SiamFCMultiTracker = build_multi_tracker(args, redetect=args.redetect)
    def draw_one(frame: np.ndarray) -> list:
        box = display.select_box(frame, "draw the target")
        return [box] if box else []
    select = draw_one if display is not None else None
    overall = progress(len(plans), "inputs", enabled=len(plans) > 1 and not args.quiet, unit="input",
                       position=0)
    per_file = progress(None, "", enabled=not args.quiet, position=1 if len(plans) > 1 else 0)
    failures = write_failures = 0
    try:
        for plan in plans:
            per_file.set_description(plan.name, refresh=False)
            try:
                report = track_input(plan, tracker, display, per_file, select, governor,
                                     args.start_frame, args.max_frames)
            except (InputError, SourceError, ValueError) as exc:
                failures += 1
                say(args, f"siamfc: error: {exc}" + (" (input skipped)" if len(plans) > 1 else ""),
                    force=True)
                overall.update(1)
                continue
            except OSError as exc:     # an output could not be written: a runtime failure
                failures += 1
                write_failures += 1
                say(args, f"siamfc: failed: {plan.source}: writing {', '.join(plan.outputs)}: {exc}", force=True)
                overall.update(1)
                continue
            if report.error:
                failures += 1
                say(args, f"siamfc: error: {report.error}", force=True)
            outputs = report.written
            say(args, f"{plan.source}: {report.frames} frames in {report.seconds:.1f} s "
                f"({report.frames / max(report.seconds, 1e-9):.1f} fps, {running_on(tracker)})"
                + (f" -> {', '.join(outputs)}" if outputs else ""))
            overall.update(1)
    finally:
        per_file.close()
        overall.close()
        if display is not None:
            display.close()
    if len(plans) > 1:
        say(args, f"{len(plans) - failures} of {len(plans)} inputs tracked"
            + (f", {failures} failed (see above)" if failures else ""), force=bool(failures))
    return 1 if write_failures else 2 if failures else 0


def track_on_ray(args: argparse.Namespace, plans: list[InputPlan]) -> int:
    """``track --ray``: every input as a Ray task (``batch.track_many``), outputs renamed into
    place when finished; the same messages and exit codes as the plain run."""
    from ..batch import TrackerRecipe, track_many
    from ..model.runtime import resolve_device
    from .options import require_ray_here, tracker_config, weights_from_args
    if not args.output_dir:
        raise InputError("--ray writes each input's outputs into --output-dir DIR (on storage "
                         "every node sees)")
    require_ray_here(args)
    check_writable(Path(args.output_dir))
    weights, backbone = weights_from_args(args)
    if not Path(weights).is_file():
        raise InputError(f"{weights}: no such weights file")
    device = str(resolve_device(args.device))
    recipe = TrackerRecipe(str(Path(weights).resolve()), device,
                           tracker_config(args, redetect=args.redetect), backbone, args.dtype,
                           runtime=args.runtime)
    address = None if args.ray == "local" else args.ray
    bar = progress(len(plans), "inputs", enabled=not args.quiet, unit="input")
    failures = frames = 0

    def on_done(i: int, report: JobReport) -> None:
        nonlocal failures, frames
        if report.error:
            failures += 1
            say(args, f"siamfc: error: {report.error}" + (
                " (input skipped)" if report.frames == 0 and len(plans) > 1 else ""), force=True)
        if report.frames:
            say(args, f"{report.source}: {report.frames} frames in {report.seconds:.1f} s "
                f"({report.frames / max(report.seconds, 1e-9):.1f} fps, Ray task)"
                + (f" -> {', '.join(report.written)}" if report.written else ""))
        frames += report.frames
        bar.set_postfix_str(f"{frames} frames", refresh=False)
        bar.update(1)

    boxed = [p for p in plans if p.boxes]
    for plan in plans:
        if not plan.boxes:           # fails alone, as in the plain run
            on_done(-1, JobReport(plan.source, error=f"{plan.source}: no initial box (--ray "
                                  "has no display to draw one on: pass --box or --boxes-json)"))
    try:
        track_many([job_for(p, args.start_frame, args.max_frames) for p in boxed], recipe,
                   address, num_cpus=args.ray_cpus,
                   num_gpus=1 if device.startswith("cuda") else 0, on_done=on_done)
    finally:
        bar.close()
    if len(plans) > 1:
        say(args, f"{len(plans) - failures} of {len(plans)} inputs tracked"
            + (f", {failures} failed (see above)" if failures else ""), force=bool(failures))
    return 2 if failures else 0


def check_writable(folder: Path) -> None:
    """``InputError`` unless ``folder`` exists or can be made and takes a file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".siamfc-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"{folder}: the output folder is not writable ({exc.strerror or exc})") \
            from None
