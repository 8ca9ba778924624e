"""``siamfc fit-score``: fit the tracker's score model for a weights file on training sequences
(writes ``<weights>.online.score.json``, or ``<weights>.score.json`` with ``--no-online``)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from .console import progress, say
from .errors import EXIT_OK, UserError
from .options import (add_command, add_device_option, add_dtype_option, add_weights_options,
                      preset_name, training_sequences, weights_from_args)

DEFAULT_CUES = "relative,cosine"     # the shipped models' cues (weights/README.md)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "fit-score", "fit the tracker's confidence score for a weights file "
                                      "(writes <weights>.online.score.json)",
                    "Place the tracker by hand on training sequences (on the target, beside it, "
                    "on other objects, on background), record the response cues of each update "
                    "and the IoU of its box, and fit the logistic score model that turns the "
                    "cues into TrackResult.score; stored as <weights>.online.score.json (the "
                    "tracker with its online target model, the default) or, with --no-online, "
                    "<weights>.score.json beside the weights, with the weights' sha256 (the "
                    "tracker reads it from there).",
                    ["siamfc fit-score --data ../shared/data/train",
                     "siamfc fit-score --backbone alexnet --data ../shared/data/train"])
    data = p.add_argument_group("samples")
    data.add_argument("--data", action="append", required=True, metavar="DIR",
                      help="training-style sequences (repeatable); never the evaluation data")
    data.add_argument("--exemplars", type=int, default=2,
                      help="initialisations per sequence (default 2; 20 updates each)")
    data.add_argument("--seed", type=int, default=0, help="seed of the sampling")
    data.add_argument("--samples", metavar="NPZ",
                      help="cache of the samples: read when it exists, else written")
    model = p.add_argument_group("model")
    model.add_argument("--cues", default=DEFAULT_CUES,
                       help=f"comma-separated cues of the model (default {DEFAULT_CUES}; "
                            "known: peak, relative, psr, margin, apce, cosine)")
    add_weights_options(model)
    add_device_option(model)
    add_dtype_option(model)
    model.add_argument("--no-online", dest="online", action="store_false",
                       help="fit it for the tracker without the online target model "
                            "(--set online=false elsewhere)")
    model.add_argument("--out", metavar="FILE",
                       help="output file (default: beside the weights, "
                            "<weights>.online.score.json, or <weights>.score.json with --no-online)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import TrackerConfig
    from ..confidence import CUES, score_model_path
    from ..model.weights import file_sha256, load_network
    from ..siamfc import SiamFCMultiTracker
    from ..training.score_fit import (KINDS, ScoreSamples, collect_samples, cue_aucs, fit,
                                      held_out_auc)

    use = [c.strip() for c in args.cues.split(",") if c.strip()]
    unknown = [c for c in use if c not in CUES]
    if unknown or not use:
        raise UserError(f"--cues: unknown cues {unknown}; choose from {list(CUES)}")
    if args.exemplars < 1:
        raise UserError("--exemplars must be at least 1")
    weights, backbone = weights_from_args(args)
    out = Path(args.out) if args.out else score_model_path(weights, args.online)
    cache = Path(args.samples) if args.samples else None
    if cache is not None and cache.is_file():
        try:
            samples = ScoreSamples.load(str(cache))
        except (OSError, KeyError, ValueError) as exc:
            raise UserError(f"{cache}: not a samples file ({exc}); delete it or give another "
                            "--samples") from None
        say(args, f"read {len(samples.iou)} samples from {cache}")
    else:
        sequences, _, _ = training_sequences(args)
        # no score model while sampling (the cues do not depend on it), so that a stale
        # <weights>.score.json does not stop its own refit
        network, calibration = load_network(weights, backbone, True, args.dtype, args.device)
        config = TrackerConfig.preset(preset_name(args), online=args.online)
        tracker = SiamFCMultiTracker(network, config,
                                     device=args.device, dtype=args.dtype, calibration=calibration,
                                     runtime=args.runtime)
        bar = progress(len(sequences), "sampling", enabled=not args.quiet, unit="seq")
        try:
            samples = collect_samples(tracker, sequences, exemplars=args.exemplars,
                                      seed=args.seed, on_sequence=lambda: bar.update(1))
        except ValueError as exc:
            raise UserError(str(exc)) from None
        finally:
            bar.close()
        if cache is not None:
            samples.save(str(cache))
    _, y = samples.labelled()
    if y.min() == y.max():
        raise UserError("the samples hold only one class (held or failed); give more data")
    aucs = cue_aucs(samples)
    held_out = held_out_auc(samples, use)
    model = fit(samples, use, fitted=f"siamfc fit-score on {', '.join(args.data)} "
                                     f"(seed {args.seed}, {args.exemplars} exemplars/sequence)",
                weights_sha256=file_sha256(weights), weights_file=weights.name,
                online=args.online,
                sample_counts={k: int((samples.kind == i).sum()) for i, k in enumerate(KINDS)},
                held=int(y.sum()), failed=int((1 - y).sum()),
                cue_roc_auc={k: round(v, 4) for k, v in aucs.items()},
                held_out_roc_auc=round(held_out, 4))
    tmp = out.with_name(out.name + ".tmp")
    model.save(tmp)
    os.replace(tmp, out)
    say(args, "ROC-AUC (held vs failed) per cue: "
        + ", ".join(f"{k} {v:.3f}" for k, v in aucs.items()))
    say(args, f"score model on {', '.join(use)}: ROC-AUC {held_out:.3f} on sequences left out "
              f"of the fit ({int(y.sum())} held, {int((1 - y).sum())} failed samples) -> {out}")
    return EXIT_OK
