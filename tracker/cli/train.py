"""``siamfc train``: train SiamFC weights on GOT-10k-style sequences (one process, or one per
device under torchrun)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from .console import progress, say
from .errors import EXIT_OK, UserError
from .options import (add_command, add_device_option, backbone_names, parse_settings,
                      training_sequences)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "train", "train SiamFC weights on GOT-10k-style sequences",
                    "Train SiamFC weights on GOT-10k-style sequences (also LaSOT, ILSVRC2015-VID "
                    "and OTB layouts): sampled exemplar/search pairs, augmentation, the "
                    "class-balanced logistic loss, SGD; a checkpoint and a metrics row per epoch.",
                    ["siamfc train --data ../shared/data/train --out runs/alexnet",
                     "siamfc train --data ../shared/data/train --out runs/alexnet --resume",
                     "siamfc train --data ../shared/data/train --out runs/slim --backbone "
                     "alexnet_slim --distill weights/siamfc_alexnet.pth"])
    data = p.add_argument_group("data")
    data.add_argument("--data", action="append", required=True, metavar="DIR",
                      help="training root (repeatable): GOT-10k-style, LaSOT, ILSVRC2015-VID or "
                           "OTB layout")
    data.add_argument("--data-weights", help="comma-separated sampling weight per --data root")
    data.add_argument("--search-size", type=int, default=255, choices=[239, 255],
                      help="search crop side: 255 (what the tracker uses) or the paper's central 239")
    data.add_argument("--set", action="append", metavar="KEY=VALUE",
                      help="override a PairConfig field (sampling and augmentation), e.g. "
                           "--set neg_prob=0 --set occlude_prob=0; repeatable")
    data.add_argument("--workers", type=int, default=1, help="data loader processes (default 1)")
    model = p.add_argument_group("network and loss")
    model.add_argument("--backbone", default="alexnet", choices=backbone_names(),
                       help="network to train (default alexnet)")
    model.add_argument("--branches", default="shared", choices=["shared", "separate"],
                       help="shared: one backbone for both crops (siamese, default); separate: "
                            "the search crop gets its own copy of it (pseudo-siamese)")
    model.add_argument("--init", default="scratch", choices=["scratch", "imagenet"],
                       help="initial weights: scratch (Kaiming, default) or imagenet (the "
                            "mobilenetv2* / efficientnet_lite0* backbones, from their pip package)")
    model.add_argument("--head", default="xcorr", choices=["xcorr", "box", "xcorr-box"],
                       help="xcorr: SiamFC's cross-correlation response (default, the paper's); "
                            "box: SiamFC++'s head (classification, quality and the box's sides "
                            "per cell: one search crop per frame, boxes of any shape); "
                            "xcorr-box: SiamFC's response as the classification with SiamFC++'s "
                            "box branch beside it (start it from xcorr weights with --start-from); "
                            "the box heads' pair defaults jitter scale and aspect more (--set "
                            "overrides them)")
    model.add_argument("--start-from", metavar="WEIGHTS.pth",
                       help="start the backbone from a SiamFC weights file of the same "
                            "--backbone (e.g. weights/siamfc_mobilenetv2.pth under --head box), "
                            "and the head too when the file has one of the same kind (to tune "
                            "it further; an xcorr file's response goes into an xcorr-box head); "
                            "its ImageNet stages are frozen as with --init imagenet")
    model.add_argument("--backbone-lr", type=float, default=0.1,
                       help="with --init imagenet: learning rate of the pretrained layers, x that "
                            "of the new ones (default 0.1)")
    model.add_argument("--train-stages", type=int, default=2,
                       help="with --init imagenet: how many of the last pretrained stages are "
                            "tuned (default 2; 0 keeps them all frozen)")
    model.add_argument("--unfreeze-epoch", type=int, default=5,
                       help="with --init imagenet: epochs with all pretrained layers frozen "
                            "before --train-stages start tuning (default 5)")
    model.add_argument("--warmup-epochs", type=int,
                       help="epochs of linear learning-rate warm-up from a tenth (default: 1 "
                            "with --init imagenet, else 0)")
    model.add_argument("--grad-clip", type=float, default=0.0, metavar="NORM",
                       help="clip the gradient's total norm to NORM each step (default 0: off)")
    model.add_argument("--loss", default="logistic",
                       choices=["logistic", "triplet", "contrastive"],
                       help="response-map loss: logistic (default, the paper's), triplet (Dong "
                            "& Shen 2018) or contrastive (Hadsell et al. 2006)")
    model.add_argument("--distill", metavar="TEACHER.pth",
                       help="also train the response maps towards those of these weights (e.g. "
                            "a lighter --backbone learning from weights/siamfc_alexnet.pth)")
    model.add_argument("--distill-weight", type=float, default=1.0,
                       help="weight of the distillation term (default 1)")
    run_group = p.add_argument_group("run")
    run_group.add_argument("--out", required=True, metavar="RUN_DIR",
                           help="run folder (checkpoints, metrics.csv)")
    run_group.add_argument("--epochs", type=int, default=20, help="epochs (default 20)")
    run_group.add_argument("--pairs-per-epoch", type=int, default=3200,
                           help="pairs sampled per epoch (default 3200)")
    run_group.add_argument("--batch-size", type=int, default=16, help="pairs per step (default 16)")
    run_group.add_argument("--seed", type=int, default=0, help="seed of sampling and initialisation")
    run_group.add_argument("--amp", default="auto", choices=["auto", "bf16", "off"],
                           help="bfloat16 autocast: auto (on CPUs with AVX-512 BF16/AMX and "
                                "CUDA GPUs that have it), bf16, off")
    add_device_option(run_group)
    run_group.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pth")
    val = p.add_argument_group("validation")
    val.add_argument("--val", metavar="DIR", help="OTB-layout folder: dev success AUC after epochs")
    val.add_argument("--val-every", type=int, default=1,
                     help="validate every N epochs (and the last)")
    val.add_argument("--val-sequences", help="comma-separated subset of --val sequences")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch
    import torch.distributed as dist

    from ..model.runtime import resolve_device
    from ..model.network import BOX_HEADS
    from ..training.pairs import BOX_PAIRS, PairConfig
    from ..training.trainer import TrainConfig, Trainer

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
    sequences, seq_weights, problems = training_sequences(args, weights)
    validate = None
    if args.val and rank == 0:
        from ..training.validation import make_validator
        names = [n for n in (args.val_sequences or "").split(",") if n] or None
        validate = make_validator(args.val, names, device=str(device))
    cfg = TrainConfig(epochs=args.epochs, pairs_per_epoch=args.pairs_per_epoch,
                      batch_size=args.batch_size, loss=args.loss, backbone=args.backbone,
                      workers=args.workers, seed=args.seed, amp=args.amp,
                      distill=args.distill or "", distill_weight=args.distill_weight,
                      init=args.init, backbone_lr=args.backbone_lr, train_stages=args.train_stages,
                      branches=args.branches, head=args.head, start_from=args.start_from or "",
                      unfreeze_epoch=args.unfreeze_epoch, grad_clip=args.grad_clip,
                      warmup_epochs=(args.warmup_epochs if args.warmup_epochs is not None
                                     else int(args.init == "imagenet" or bool(args.start_from))),
                      pairs=PairConfig.from_dict({"instance_size": args.search_size,
                                                  **(BOX_PAIRS if args.head in BOX_HEADS else {}),
                                                  **parse_settings(args.set or [])}))
    try:
        trainer = Trainer(sequences, args.out, cfg, device=device, weights=seq_weights,
                          validate=validate, validate_every=args.val_every)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.resume and trainer.resume():
        say(args, f"resumed from {Path(args.out) / 'last.pth'} at epoch {trainer.epoch}")
    say(args, f"training on {len(sequences)} sequences ({len(problems)} problems skipped), "
               f"bf16={trainer.bf16}, device={trainer.device}, processes={trainer.world}")
    bar = progress(trainer.steps_per_epoch, f"epoch {trainer.epoch + 1}", enabled=not args.quiet,
                    unit="step")

    def on_step(i: int, n: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}")

    def on_epoch(row: dict) -> None:
        bar.reset()
        bar.set_description(f"epoch {row['epoch'] + 1}")
        auc = f" dev AUC {row['dev_auc']:.3f}" if row["dev_auc"] == row["dev_auc"] else ""
        distill = f" (distillation {row['distill']:.4f})" if "distill" in row else ""
        say(args, f"epoch {row['epoch']}: loss {row['loss']:.4f}{distill} pos {row['pos_score']:.3f} "
                   f"neg {row['neg_score']:.3f} {row['pairs_per_s']:.1f} pairs/s{auc}, "
                   f"{row['skipped']} unreadable frames skipped -> {row['weights']}")

    try:
        trainer.train(on_step=on_step, on_epoch=on_epoch)
    finally:
        bar.close()
        if dist.is_initialized():
            dist.destroy_process_group()
    return EXIT_OK
