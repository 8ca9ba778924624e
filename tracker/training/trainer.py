"""The SiamFC training loop: SGD with geometric learning-rate decay, checkpoints and resume.

Library code: it logs through ``logging`` and an optional callback, never prints.
"""
from __future__ import annotations

import csv
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ..model.network import BOX_HEADS, BRANCHES, HEADS, SiamNet, init_weights, weights_state
from ..model.runtime import cpu_info
from ..model.weights import healthy, largest_weight, load_model
from .boxes import box_loss, box_targets, fit_slope, shape_fit_sums
from .losses import LOSSES, distill_loss
from .pairs import PairConfig, PairDataset
from .sequences import TrainSequence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (SiamFC: SGD, momentum 0.9, wd 5e-4, lr 1e-2 -> 1e-5)."""

    epochs: int = 20
    pairs_per_epoch: int = 3200
    batch_size: int = 16
    lr_start: float = 1e-2
    lr_end: float = 1e-5
    momentum: float = 0.9
    weight_decay: float = 5e-4
    loss: str = "logistic"
    backbone: str = "alexnet"
    workers: int = 1
    seed: int = 0
    amp: str = "auto"            # auto | bf16 | off
    distill: str = ""            # teacher weights: also match its response maps
    distill_weight: float = 1.0  # weight of the distillation term next to the task loss
    # pretrained backbones (``init="imagenet"``; see ``model/backbones/pretrained.py``)
    init: str = "scratch"        # scratch (Kaiming) | imagenet
    backbone_lr: float = 0.1     # learning rate of the pretrained layers, x the new layers'
    train_stages: int = 2        # pretrained stages tuned (the last ones); 0: all stay frozen
    unfreeze_epoch: int = 5      # epochs with every pretrained layer frozen before that
    warmup_epochs: int = 0       # learning rate rises linearly from a tenth over these
    grad_clip: float = 0.0       # the gradient's total norm is clipped to this (0: off)
    branches: str = "shared"     # shared (siamese) | separate (pseudo-siamese: own search weights)
    head: str = "xcorr"          # xcorr (SiamFC's response) | box (SiamFC++: class, quality, box)
    #                              | xcorr-box (SiamFC's response + SiamFC++'s box branch)
    start_from: str = ""         # SiamFC weights whose backbone (and box head) start the network
    pairs: PairConfig = field(default_factory=PairConfig)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {sorted(LOSSES)}")
        if self.amp not in ("auto", "bf16", "off"):
            raise ValueError(f"amp must be auto, bf16 or off, got {self.amp!r}")
        for key in ("epochs", "pairs_per_epoch", "batch_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1")
        if not (0 < self.lr_end <= self.lr_start):
            raise ValueError("need 0 < lr_end <= lr_start")
        if not (math.isfinite(self.distill_weight) and self.distill_weight >= 0):
            raise ValueError(f"distill_weight must be a finite number >= 0, got {self.distill_weight}")
        if self.branches not in BRANCHES:
            raise ValueError(f"branches must be one of {BRANCHES}, got {self.branches!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.head in BOX_HEADS and (self.distill or self.loss != "logistic"):
            raise ValueError("the box head trains with its own losses (logistic classification, "
                             "quality BCE, IoU): drop --distill and keep --loss logistic")
        if self.init not in ("scratch", "imagenet"):
            raise ValueError(f"init must be scratch or imagenet, got {self.init!r}")
        if not (math.isfinite(self.backbone_lr) and self.backbone_lr >= 0):
            raise ValueError(f"backbone_lr must be a finite number >= 0, got {self.backbone_lr}")
        if not (math.isfinite(self.grad_clip) and self.grad_clip >= 0):
            raise ValueError(f"grad_clip must be a finite number >= 0, got {self.grad_clip}")
        for key in ("train_stages", "unfreeze_epoch", "warmup_epochs"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0")

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.pairs_per_epoch // self.batch_size)

    @property
    def pretrained(self) -> bool:
        """The backbone starts from trained weights (ImageNet, or ``start_from``): its
        pretrained parts are frozen by the schedule and learn at ``backbone_lr``."""
        return self.init == "imagenet" or bool(self.start_from)


def use_bf16(amp: str, device: torch.device) -> bool:
    if amp == "off":
        return False
    if amp == "bf16":
        return True
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return cpu_info().bf16


def learning_rate(cfg: TrainConfig, step: int, total: int, steps_per_epoch: int = 1) -> float:
    """Geometric decay from lr_start (step 0) to lr_end (last step), times a linear warm-up
    from a tenth to one over the first ``warmup_epochs`` (of ``steps_per_epoch`` steps)."""
    frac = step / max(1, total - 1)
    lr = cfg.lr_start * (cfg.lr_end / cfg.lr_start) ** frac
    warmup = cfg.warmup_epochs * steps_per_epoch
    if step < warmup:
        lr *= 0.1 + 0.9 * step / warmup
    return lr


def pretrained_parts(model: SiamNet) -> list[torch.nn.Module]:
    """The backbone's ImageNet-initialised parts, earliest first, each part of both branches
    together when they are separate (empty for backbones without ImageNet weights)."""
    per_branch = [list(b.pretrained_modules()) for b in model.backbones()
                  if hasattr(b, "pretrained_modules")]
    return [torch.nn.ModuleList(group) for group in zip(*per_branch)]


def check_weights(model: torch.nn.Module, epoch: int, run_dir: Path) -> None:
    """Raise ``FloatingPointError`` before a diverged epoch is saved: a weight not finite or
    beyond ``WEIGHT_LIMIT`` (the loss can stay finite while a layer blows up behind a ReLU6)."""
    name, value = largest_weight(model.state_dict())
    if healthy(value):
        return
    last = run_dir / f"epoch_{epoch - 1:03d}.pth"
    where = (f"the last good weights are {last}: start a new run from them (--start-from) with a "
             "lower --backbone-lr or more --warmup-epochs" if epoch > 1
             else "no epoch of this run was good: lower --backbone-lr or add --warmup-epochs")
    raise FloatingPointError(f"training diverged in epoch {epoch}: {name} reached {value:.3g} "
                             f"(epoch {epoch} not saved); {where}")


def set_trainable(model: SiamNet, cfg: TrainConfig, epoch: int) -> None:
    """Freeze the pretrained parts for ``epoch`` (0-based): all of them before
    ``unfreeze_epoch``, then all but the last ``train_stages``. Only for a pretrained backbone
    (``cfg.pretrained``). An ``xcorr-box`` head started from weights keeps their whole
    response (backbone with its adjust layer, the xcorr head) frozen while no stage tunes."""
    if not cfg.pretrained:
        return
    parts = pretrained_parts(model)
    tuned = cfg.train_stages if epoch >= cfg.unfreeze_epoch else 0
    if cfg.head == "xcorr-box" and cfg.start_from:
        # the response's trainable tensors outside the pretrained parts (the backbone's adjust
        # layer, the xcorr bias): frozen here, and given back to training once a stage tunes
        frozen: list[torch.nn.Parameter] = model.__dict__.setdefault("_frozen_response", [])
        if tuned == 0 and parts:
            for p in [*(p for b in model.backbones() for p in b.parameters()),
                      *model.head.xcorr.parameters()]:
                if p.requires_grad:
                    p.requires_grad_(False)
                    frozen.append(p)
        else:
            for p in frozen:
                p.requires_grad_(True)
            frozen.clear()
    for i, part in enumerate(parts):
        part.requires_grad_(i >= len(parts) - tuned)


def start_from_weights(model: SiamNet, path: str) -> None:
    """Copy the backbone tensors (``backbone.*``, ``search_backbone.*``) of the SiamFC weights
    file ``path`` into ``model``; its head too when the file has a head of the same kind (to
    go on tuning a box head), and an xcorr file's response (its bias) into an ``xcorr-box``
    head's ``xcorr`` part; else the head stays as initialised. ``ValueError`` naming the
    file when its backbone is another one."""
    source_model = load_model(path)
    source = source_model.state_dict()
    target = model.state_dict()
    parts = ("backbone", "search_backbone")
    if source_model.head_kind == model.head_kind and model.head_kind != "xcorr":
        parts += ("head",)
    keys = [k for k in target if k.split(".")[0] in parts]
    wrong = [k for k in keys if k not in source or source[k].shape != target[k].shape]
    if wrong:
        what = "head" if wrong[0].startswith("head.") else "backbone"
        raise ValueError(f"{path}: its {what} does not fit {model.backbone_name!r} "
                         f"({wrong[0]} missing or of another shape); pick weights of that backbone")
    model.load_state_dict({**target, **{k: source[k] for k in keys}})
    if model.head_kind == "xcorr-box" and source_model.head_kind == "xcorr":
        model.head.xcorr.load_state_dict(source_model.head.state_dict())   # the file's response


def freeze_batchnorm(model: SiamNet) -> None:
    """Keep the pretrained parts' BatchNorm statistics as they are (eval mode); their scale and
    shift still train where the part does. Any other BatchNorm whose scale is frozen keeps its
    statistics too."""
    for part in pretrained_parts(model):
        for m in part.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d) and m.weight is not None and not m.weight.requires_grad:
            m.eval()


def _train_config_dict(cfg: TrainConfig) -> dict:
    d = asdict(cfg)
    d["pairs"] = asdict(cfg.pairs)
    return d


def _flat(d: dict, prefix: str = "") -> dict:
    """``{"pairs": {"neg_prob": 0.2}}`` -> ``{"pairs.neg_prob": 0.2}``."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class Trainer:
    """Trains a ``SiamNet`` on pairs from ``sequences``; checkpoints into ``run_dir``.

    ``run_dir/last.pth`` holds everything needed to resume; ``run_dir/epoch_NNN.pth`` the
    model state dict alone (what ``weights/`` ships); ``run_dir/metrics.csv`` one row per epoch.
    """

    def __init__(self, sequences: list[TrainSequence], run_dir: str | os.PathLike,
                 cfg: TrainConfig = TrainConfig(), device: str | torch.device = "cpu",
                 weights: np.ndarray | None = None,
                 validate: Callable[[torch.nn.Module], float] | None = None,
                 validate_every: int = 1) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.run_dir = Path(run_dir)
        # under torchrun each process trains on its own pairs; gradients are averaged (DDP)
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        if self.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)   # same initial weights on every rank
        self.model = SiamNet(cfg.backbone, branches=cfg.branches, head=cfg.head)
        init_weights(self.model)
        if cfg.init == "imagenet":
            from ..model.backbones.pretrained import load_imagenet
            if not pretrained_parts(self.model):
                raise ValueError(f"backbone {cfg.backbone!r} has no ImageNet initialisation; "
                                 "use --init scratch")
            load_imagenet(self.model.backbone)
        if cfg.start_from:
            start_from_weights(self.model, cfg.start_from)
        self.model.copy_exemplar_branch()     # separate branches start equal
        # the labels' grid is the network's: its stride wins over the pair settings' default
        stride = int(getattr(self.model.backbone, "total_stride", cfg.pairs.total_stride))
        if stride != cfg.pairs.total_stride:
            cfg = self.cfg = replace(cfg, pairs=replace(cfg.pairs, total_stride=stride))
        self.model.to(self.device).to(memory_format=torch.channels_last)
        self.net: torch.nn.Module = self.model
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        # pretrained layers learn at backbone_lr x the rate of the new ones ("scale" per group)
        pretrained = ({id(p) for part in pretrained_parts(self.model) for p in part.parameters()}
                      if cfg.pretrained else set())
        groups = [{"params": [p for p in self.model.parameters() if id(p) not in pretrained],
                   "scale": 1.0},
                  {"params": [p for p in self.model.parameters() if id(p) in pretrained],
                   "scale": cfg.backbone_lr}]
        self.optimizer = torch.optim.SGD([g for g in groups if g["params"]], lr=cfg.lr_start,
                                         momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        self.loss_fn = LOSSES[cfg.loss]
        # distillation: a frozen teacher network scores the same pairs
        self.teacher: SiamNet | None = None
        if cfg.distill:
            self.teacher = load_model(cfg.distill).to(self.device).to(memory_format=torch.channels_last)
            self.teacher.requires_grad_(False)
            if getattr(self.teacher.backbone, "total_stride", 8) != stride:
                raise ValueError(f"the teacher {cfg.distill} has stride "
                                 f"{self.teacher.backbone.total_stride}, this network {stride}: "
                                 "their responses do not align; distil from a network of the same stride")
        self.steps_per_epoch = max(1, math.ceil(cfg.steps_per_epoch / self.world))
        seed = cfg.seed if self.world == 1 else cfg.seed * 1000 + self.rank
        self.dataset = PairDataset(sequences, self.steps_per_epoch * cfg.batch_size, cfg.pairs,
                                   seed=seed, weights=weights)
        self.bf16 = use_bf16(cfg.amp, self.device)
        self.validate = validate
        self.validate_every = max(1, validate_every)
        self.epoch = 0   # epochs completed
        self.step = 0    # optimiser steps completed

    # -- checkpoints --------------------------------------------------------------------------
    def save(self) -> Path:
        """Write last.pth and epoch_NNN.pth (rank 0 only); returns the epoch weights path."""
        weights = self.run_dir / f"epoch_{self.epoch:03d}.pth"
        if self.rank != 0:
            return weights
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "epoch": self.epoch, "step": self.step, "config": _train_config_dict(self.cfg)}
        path = self.run_dir / "last.pth"
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        torch.save(weights_state(self.model), weights)
        return weights

    def resume(self) -> bool:
        """Load ``run_dir/last.pth`` if present; True when resumed."""
        path = self.run_dir / "last.pth"
        if not path.is_file():
            return False
        state = torch.load(path, map_location=self.device, weights_only=True)
        saved = _flat(state.get("config") or {})
        current = _flat(_train_config_dict(self.cfg))
        # what the run is may not change under it; epochs, workers and amp may
        changed = sorted(k for k in current if k not in ("epochs", "workers", "amp")
                         and k in saved and saved[k] != current[k])
        if changed:
            detail = ", ".join(f"{k}: {saved[k]!r} -> {current[k]!r}" for k in changed)
            raise ValueError(f"{path}: cannot resume with different settings ({detail}); "
                             f"use the original settings or a new --out folder")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        return True

    # -- loop ---------------------------------------------------------------------------------
    def train(self, on_step: Callable[[int, int, float], None] | None = None,
              on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
        """Run the remaining epochs; returns one metrics dict per epoch run now."""
        cfg = self.cfg
        total = cfg.epochs * self.steps_per_epoch
        history = []
        while self.epoch < cfg.epochs:
            self.dataset.set_epoch(self.epoch)
            loader = DataLoader(self.dataset, batch_size=cfg.batch_size, shuffle=False,
                                num_workers=cfg.workers, drop_last=True,
                                persistent_workers=False, prefetch_factor=4 if cfg.workers else None)
            self.model.train()
            set_trainable(self.model, cfg, self.epoch)
            if cfg.pretrained:
                freeze_batchnorm(self.model)
            sums = {"loss": 0.0, "pos": 0.0, "neg": 0.0, "n": 0, "skipped": 0, "distill": 0.0,
                    "iou": 0.0, "iou_n": 0, "shape": torch.zeros(2, 5, dtype=torch.float64)}
            start = time.perf_counter()
            for i, (z, x, labels, boxes, skipped) in enumerate(loader):
                sums["skipped"] += int(skipped.sum())
                lr = learning_rate(cfg, self.step, total, self.steps_per_epoch)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr * group.get("scale", 1.0)
                z = z.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                labels = labels.to(self.device)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    out = self.net(z, x)
                if cfg.head in BOX_HEADS:
                    # the box head's labels come from the box (cells inside its central part)
                    targets = box_targets(boxes.to(self.device), out.cls.shape[-1],
                                          cfg.pairs.total_stride, cfg.pairs.instance_size)
                    loss, parts = box_loss(out, targets)
                    logits, labels = out.cls, targets.labels
                    if not math.isnan(parts["iou"]):        # NaN: no positive cell
                        sums["iou"] += parts["iou"]
                        sums["iou_n"] += 1
                    sums["shape"] += shape_fit_sums(out.ltrb, targets)
                else:
                    logits = out
                    loss = self.loss_fn(logits.float(), labels)
                if self.teacher is not None:
                    with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16,
                                                         enabled=self.bf16):
                        teacher_logits = self.teacher(z, x)
                    distill = distill_loss(logits, teacher_logits, labels)
                    sums["distill"] += distill.item()
                    loss = loss + cfg.distill_weight * distill
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} at step {self.step}")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.optimizer.step()
                self.step += 1
                with torch.no_grad():
                    prob = torch.sigmoid(logits.float())
                    pos = labels > 0.5
                    sums["loss"] += loss.item()
                    sums["pos"] += prob[pos].mean().item() if pos.any() else 0.0
                    sums["neg"] += prob[~pos].mean().item()
                    sums["n"] += 1
                if on_step is not None:
                    on_step(i + 1, self.steps_per_epoch, loss.item())
            elapsed = time.perf_counter() - start
            self.epoch += 1
            n = max(1, sums["n"])
            row = {"epoch": self.epoch, "step": self.step, "lr": lr, "loss": sums["loss"] / n,
                   "pos_score": sums["pos"] / n, "neg_score": sums["neg"] / n,
                   "pairs_per_s": n * cfg.batch_size * self.world / elapsed, "seconds": elapsed,
                   "skipped": self._all_ranks_sum(sums["skipped"])}
            if self.teacher is not None:
                row["distill"] = sums["distill"] / n   # its share of "loss", unweighted
            if cfg.head in BOX_HEADS:                  # mean IoU of the boxes on positive cells
                row["box_iou"] = sums["iou"] / max(1, sums["iou_n"])
                # slopes of the predicted log size and log aspect on the true (1: measured)
                row["box_size_slope"] = fit_slope(sums["shape"][0])
                row["box_aspect_slope"] = fit_slope(sums["shape"][1])
            check_weights(self.model, self.epoch, self.run_dir)
            weights = self.save()
            row["dev_auc"] = float("nan")
            if self.validate is not None and self.rank == 0 and (
                    self.epoch % self.validate_every == 0 or self.epoch == cfg.epochs):
                row["dev_auc"] = float(self.validate(self.model))
            row["weights"] = str(weights)
            if self.rank == 0:
                self._append_csv(row)
                plot_history(self.run_dir)
            if self.distributed:
                dist.barrier()
            history.append(row)
            log.info("epoch %d loss %.4f pos %.3f neg %.3f %.1f pairs/s, %d unreadable frames skipped",
                     self.epoch, row["loss"], row["pos_score"], row["neg_score"], row["pairs_per_s"],
                     row["skipped"])
            if on_epoch is not None:
                on_epoch(row)
        return history

    def _all_ranks_sum(self, value: int) -> int:
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.int64, device=self.device)   # nccl: on the GPU
        dist.all_reduce(t)
        return int(t.item())

    def _append_csv(self, row: dict) -> None:
        """Append a row to metrics.csv (the header is written with the first row; a run resumed
        by a version with other columns rewrites the file with all of them, blank where a row
        has none)."""
        path = self.run_dir / "metrics.csv"
        values = {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
        fields, rows = list(row), []
        if path.is_file():
            with open(path, newline="") as fh:
                reader = csv.DictReader(fh)
                old = list(reader.fieldnames or [])
                rows = list(reader)
            if old == fields:
                with open(path, "a", newline="") as fh:
                    csv.DictWriter(fh, fieldnames=fields).writerow(values)
                return
            fields = old + [k for k in fields if k not in old]
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(rows + [values])
        os.replace(tmp, path)


def read_history(run_dir: str | os.PathLike) -> list[dict]:
    """The rows of ``run_dir/metrics.csv`` as dicts of floats (weights path kept as text)."""
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [{k: (v if k == "weights" else float(v or "nan")) for k, v in row.items()}
                for row in csv.DictReader(fh)]


def plot_history(run_dir: str | os.PathLike) -> Path | None:
    """``run_dir/curves.png``: loss and mean scores per epoch, and dev AUC when measured."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = read_history(run_dir)
    if not rows:
        return None
    epochs = [r["epoch"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, [r["loss"] for r in rows], label="loss")
    ax1.set(xlabel="epoch", ylabel="training loss")
    ax1.legend()
    ax2.plot(epochs, [r["pos_score"] for r in rows], label="mean positive score")
    ax2.plot(epochs, [r["neg_score"] for r in rows], label="mean negative score")
    aucs = [(r["epoch"], r.get("dev_auc", float("nan"))) for r in rows]
    aucs = [(e, a) for e, a in aucs if a == a]
    if aucs:
        ax2.plot(*zip(*aucs), "o-", label="dev success AUC")
    ax2.set(xlabel="epoch", ylim=(0, 1))
    ax2.legend()
    fig.tight_layout()
    out = Path(run_dir) / "curves.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
