"""``siamfc quantize``: calibrate int8 inference for a weights file (writes
``<weights>.int8.pth``; with ``--openvino`` the OpenVINO int8 network goes in it too)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from .console import progress, say
from .errors import EXIT_OK, UserError
from .options import add_command, add_weights_options, training_sequences, weights_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "quantize", "calibrate int8 inference for a weights file "
                                     "(writes <weights>.int8.pth)",
                    "Calibrate int8 inference for a weights file: run exemplar and search crops "
                    "of training frames through it and store the activation ranges, with the "
                    "weights' fingerprint, as <weights>.int8.pth beside it (used by --dtype "
                    "int8 and auto); with --openvino also the network quantized for OpenVINO.",
                    ["siamfc quantize --backbone alexnet --data ../shared/data/train",
                     "siamfc quantize --fast --openvino --data ../shared/data/train",
                     "siamfc quantize --weights runs/x/epoch_020.pth --data ../shared/data/train"])
    data = p.add_argument_group("calibration data")
    data.add_argument("--data", action="append", required=True, metavar="DIR",
                      help="training-style sequences to take calibration crops from (repeatable)")
    data.add_argument("--frames", type=int, default=256,
                      help="annotated frames to sample (default 256)")
    data.add_argument("--seed", type=int, default=0, help="seed of the frame sampling")
    weights = p.add_argument_group("weights")
    add_weights_options(weights)
    weights.add_argument("--openvino", action="store_true",
                         help="also quantize the network for OpenVINO (NNCF; pip install "
                              "\"siamfc[openvino-quantize]\") and keep it in the same file: "
                              "--runtime openvino then runs it in int8")
    weights.add_argument("--out", metavar="FILE",
                         help="output file (default: beside the weights, <weights>.int8.pth)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..model.fusion import fold_batchnorm
    from ..model.openvino import NNCF_INSTALL, quantize_network, quantizer_available
    from ..model.quantize import (calibrate_network, calibration_crops, calibration_path,
                                  int8_available, with_openvino_network)
    from ..model.weights import load_model

    if not int8_available():
        raise UserError("this torch build has no x86 quantized engine; int8 is not available")
    weights, backbone = weights_from_args(args)
    model = fold_batchnorm(load_model(weights, backbone))
    if args.openvino and model.search_backbone is not None:
        raise UserError(f"{weights} has separate branches; --openvino quantizes one shared "
                        "backbone only")
    if args.openvino and not quantizer_available():      # before the calibration's minutes
        raise UserError(f"--openvino needs NNCF and OpenVINO: {NNCF_INSTALL}")
    sequences, _, _ = training_sequences(args)
    out = Path(args.out) if args.out else calibration_path(weights)
    bar = progress(2 * -(-min(args.frames, sum(int(s.valid().sum()) for s in sequences)) // 16),
                    "calibrating", enabled=not args.quiet, unit="batch")

    kept: list = []

    def batches():
        for batch in calibration_crops(sequences, num_frames=args.frames, seed=args.seed):
            bar.update(1)
            if args.openvino:
                kept.append(batch)
            yield batch

    try:
        state = calibrate_network(model, batches())
    finally:
        bar.close()
    if args.openvino:
        say(args, f"quantizing {weights} for OpenVINO on {sum(len(b) for b in kept)} crops")
        network = quantize_network(model.backbone, kept)
        state = with_openvino_network(state, network)
    tmp = out.with_name(out.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, out)        # never a half-written calibration
    what = "int8 calibration" + (" and OpenVINO int8 network" if args.openvino else "")
    say(args, f"{what} of {weights} from {args.frames} frames -> {out}")
    return EXIT_OK
