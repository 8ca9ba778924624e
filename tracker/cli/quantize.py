"""``siamfc quantize``: calibrate int8 inference for a weights file (writes
``<weights>.int8.pth``)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from .console import progress, say
from .errors import EXIT_OK, UserError
from .options import add_weights_options, training_sequences, weights_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quantize", help="calibrate int8 inference for a weights file "
                                        "(writes <weights>.int8.pth)")
    p.add_argument("--data", action="append", required=True,
                   help="training-style sequences to take calibration crops from (repeatable)")
    add_weights_options(p)
    p.add_argument("--frames", type=int, default=256, help="annotated frames to sample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output file (default: beside the weights, <weights>.int8.pth)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..model.fusion import fold_batchnorm
    from ..model.quantize import calibrate, calibration_crops, calibration_path, int8_available
    from ..model.weights import load_model

    if not int8_available():
        raise UserError("this torch build has no x86 quantized engine; int8 is not available")
    weights, backbone = weights_from_args(args)
    model = fold_batchnorm(load_model(weights, backbone))
    sequences, _, _ = training_sequences(args)
    out = Path(args.out) if args.out else calibration_path(weights)
    bar = progress(2 * -(-min(args.frames, sum(int(s.valid().sum()) for s in sequences)) // 16),
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
    say(args, f"int8 calibration of {weights} from {args.frames} frames -> {out}")
    return EXIT_OK
