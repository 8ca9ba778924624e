"""``siamfc eval``: run trackers over an OTB-style benchmark and score them as the GOT-10k toolkit
does."""
from __future__ import annotations

import argparse
from pathlib import Path

from .console import progress, say
from .errors import EXIT_FAILURE, EXIT_OK, UserError
from .options import (add_command, add_device_option, add_dtype_option, add_settings_option,
                      parse_settings, positive_int, require_ray_here)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "eval", "evaluate trackers on OTB-style sequences",
                    "Run trackers over a benchmark and score them exactly as the GOT-10k "
                    "toolkit's ExperimentOTB does (success AUC, precision at 20 px, normalised "
                    "precision, fps), storing results in the got10k layout.",
                    ["siamfc eval ../shared/data/otb-dev --workers 2",
                     "siamfc eval ../shared/data/otb-dev --trackers siamfc,siamfc-lite,opencv-csrt",
                     "siamfc eval ../shared/data/otb-dev --trackers siamfc,siamfc-box --dtype fp32",
                     "siamfc eval ../shared/data/otb-dev --sequences Jumping,Singer1 --dtype fp32",
                     "siamfc eval ../shared/data/otb-dev --sre --workers 2 --results-dir results-sre"])
    data = p.add_argument_group("benchmark")
    data.add_argument("root", help="benchmark folder")
    data.add_argument("--format", default="otb", choices=["otb", "got10k", "lasot", "vot", "uav123"],
                      help="layout of ROOT (default otb)")
    data.add_argument("--sequences", help="comma-separated sequence names (default: all)")
    data.add_argument("--sre", action="store_true",
                      help="OTB's spatial robustness evaluation: every target from 12 perturbed "
                           "first boxes (shifted by 10%% of its size in 8 directions, scaled by "
                           "0.8-1.2) instead of its own, as sequences <name>.sre01-12; the "
                           "report's overall is their mean (use its own --results-dir)")
    trackers = p.add_argument_group("trackers")
    trackers.add_argument("--trackers", default="siamfc",
                          help="comma-separated: siamfc, siamfc-5s, siamfc-redetect, siamfc-lite, "
                               "siamfc-box (the xcorr-box head), siamfc-fast (what --fast tracks "
                               "with), opencv-csrt, opencv-kcf, opencv-mil, opencv-nano, opencv-vit")
    trackers.add_argument("--weights", default=None, metavar="PATH",
                          help="weights of the siamfc trackers (default: weights/siamfc_mobilenetv2.pth; "
                               "the backbone is read from the file)")
    trackers.add_argument("--lite-weights", default=None, metavar="PATH",
                          help="weights of siamfc-lite (default: weights/siamfc_lite.pth)")
    trackers.add_argument("--box-weights", default=None, metavar="PATH",
                          help="weights of siamfc-box, a box head's file (default: "
                               "weights/siamfc_mobilenetv2_box.pth)")
    add_device_option(trackers)
    add_dtype_option(trackers)
    add_settings_option(trackers)
    trackers.add_argument("--nano-backbone", metavar="ONNX", help="OpenCV NanoTrack backbone ONNX")
    trackers.add_argument("--nano-head", metavar="ONNX", help="OpenCV NanoTrack neck/head ONNX")
    trackers.add_argument("--vit-model", metavar="ONNX", help="OpenCV VitTrack ONNX")
    run_group = p.add_argument_group("run and report")
    run_group.add_argument("--workers", type=int, default=1,
                           help="parallel processes (default 1)")
    run_group.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                           help="one Ray task per tracker and sequence instead (needs the ray "
                                "extra): alone, a local Ray instance; with an ADDRESS (auto, "
                                "ray://host:10001) the running cluster's (ROOT and the results "
                                "folder on storage every node sees)")
    run_group.add_argument("--ray-cpus", type=positive_int, default=1, metavar="N",
                           help="with --ray: CPUs per task, its torch threads (default 1)")
    run_group.add_argument("--results-dir", default="results", metavar="DIR",
                           help="where each tracker's boxes and times go (default results)")
    run_group.add_argument("--report-dir", default="reports", metavar="DIR",
                           help="where report.md, performance.json and plots go (default reports)")
    run_group.add_argument("--overwrite", action="store_true",
                           help="re-run even if results exist")
    run_group.add_argument("--no-plots", action="store_true",
                           help="no success and precision plots (they need matplotlib)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import TrackerConfig
    from ..datasets import read_dataset
    from ..evaluation import Experiment
    from ..evaluation.adapters import TrackerSpec, available_trackers
    from ..model.runtime import resolve_device

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
        say(args, f"siamfc: skipped sequence: {problem}", force=True)
    if not sequences:
        raise UserError(f"no usable sequences in {args.root}")
    if args.sre:
        from ..evaluation.robustness import spatial_robustness
        try:
            sequences = spatial_robustness(sequences)
        except ValueError as exc:
            raise UserError(f"--sre: {exc}") from None
    names = [t.strip() for t in args.trackers.split(",") if t.strip()]
    bad = [n for n in names if n not in available_trackers()]
    if bad:
        raise UserError(f"unknown trackers {bad}; choose from {available_trackers()}")
    device = str(resolve_device(args.device))
    onnx = {k: v for k, v in (("nano_backbone", args.nano_backbone), ("nano_head", args.nano_head),
                              ("vit_model", args.vit_model)) if v}
    settings = parse_settings(args.set or [])
    TrackerConfig.preset("siamfc-3s", **settings)    # bad settings: ValueError (exit 2) up front
    # dtype and runtime auto -> the precision (int8 or fp32) and runtime used here, named in
    # the results folder
    specs = [TrackerSpec(n, args.weights, device, onnx, args.dtype, args.lite_weights,
                         box_weights=args.box_weights, settings=settings,
                         runtime=args.runtime).resolved() for n in names]
    if args.ray is not None:
        require_ray_here(args)
    experiment = Experiment(sequences, args.results_dir, args.report_dir)
    experiment.check(specs, args.overwrite)     # unbuildable trackers, stale results: before the bar
    bar = progress(len(specs) * len(sequences), "eval", enabled=not args.quiet, unit="seq")
    failures = []

    def on_done(outcome) -> None:
        bar.update(1)
        if not outcome.ok:
            failures.append(f"{outcome.tracker} on {outcome.sequence}: {outcome.message}")
            say(args, f"siamfc: failed: {failures[-1]}", force=True)

    try:
        experiment.run(specs, workers=args.workers, overwrite=args.overwrite, on_done=on_done,
                       ray=args.ray, ray_cpus=args.ray_cpus)
    finally:
        bar.close()
    # the report covers every tracker with results in the results folder, this run's first
    performance = experiment.report([spec.label for spec in specs], plots=not args.no_plots,
                                    dataset=str(args.root),
                                    command=getattr(args, "command_line", ""),
                                    earlier=experiment.stored_trackers())
    print((Path(args.report_dir) / "report.md").read_text())
    say(args, f"results in {args.results_dir}/, reports in {args.report_dir}/")
    done = {spec.label for spec in specs} & set(performance)
    return EXIT_FAILURE if (failures or errors or len(done) < len(names)) else EXIT_OK
