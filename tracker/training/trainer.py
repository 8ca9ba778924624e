"""The SiamFC training loop: SGD with geometric learning-rate decay, checkpoints and resume.

Library code: it logs through ``logging`` and an optional callback, never prints.
"""
from __future__ import annotations

import csv
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..network import SiamNet, init_weights
from .losses import LOSSES
from .pairs import PairConfig, PairDataset
from .sequences import TrainSequence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (SiamFC: SGD, momentum 0.9, wd 5e-4, lr 1e-2 -> 1e-5)."""

    epochs: int = 20
    pairs_per_epoch: int = 4000
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

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.pairs_per_epoch // self.batch_size)


def cpu_has_bf16() -> bool:
    """True on x86 CPUs with AVX-512 BF16 or AMX (Linux /proc/cpuinfo)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(amp: str, device: torch.device) -> bool:
    if amp == "off":
        return False
    if amp == "bf16":
        return True
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return cpu_has_bf16()


def learning_rate(cfg: TrainConfig, step: int, total: int) -> float:
    """Geometric decay from lr_start (step 0) to lr_end (last step)."""
    frac = step / max(1, total - 1)
    return cfg.lr_start * (cfg.lr_end / cfg.lr_start) ** frac


def _train_config_dict(cfg: TrainConfig) -> dict:
    d = asdict(cfg)
    d["pairs"] = asdict(cfg.pairs)
    return d


class Trainer:
    """Trains a ``SiamNet`` on pairs from ``sequences``; checkpoints into ``run_dir``.

    ``run_dir/last.pth`` holds everything needed to resume; ``run_dir/epoch_NNN.pth`` the
    model state dict alone (what ``weights/`` ships); ``run_dir/metrics.csv`` one row per epoch.
    """

    def __init__(self, sequences: list[TrainSequence], run_dir: str | os.PathLike,
                 cfg: TrainConfig = TrainConfig(), device: str | torch.device = "cpu",
                 weights: np.ndarray | None = None) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        self.model = SiamNet(cfg.backbone)
        init_weights(self.model)
        self.model.to(self.device).to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.lr_start,
                                         momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        self.loss_fn = LOSSES[cfg.loss]
        self.dataset = PairDataset(sequences, cfg.steps_per_epoch * cfg.batch_size, cfg.pairs,
                                   seed=cfg.seed, weights=weights)
        self.bf16 = use_bf16(cfg.amp, self.device)
        self.epoch = 0   # epochs completed
        self.step = 0    # optimiser steps completed

    # -- checkpoints --------------------------------------------------------------------------
    def save(self) -> Path:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "epoch": self.epoch, "step": self.step, "config": _train_config_dict(self.cfg)}
        path = self.run_dir / "last.pth"
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        weights = self.run_dir / f"epoch_{self.epoch:03d}.pth"
        torch.save(self.model.state_dict(), weights)
        return weights

    def resume(self) -> bool:
        """Load ``run_dir/last.pth`` if present; True when resumed."""
        path = self.run_dir / "last.pth"
        if not path.is_file():
            return False
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        return True

    # -- loop ---------------------------------------------------------------------------------
    def train(self, on_step: Callable[[int, int, float], None] | None = None,
              on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
        """Run the remaining epochs; returns one metrics dict per epoch run now."""
        cfg = self.cfg
        total = cfg.epochs * cfg.steps_per_epoch
        history = []
        while self.epoch < cfg.epochs:
            self.dataset.set_epoch(self.epoch)
            loader = DataLoader(self.dataset, batch_size=cfg.batch_size, shuffle=False,
                                num_workers=cfg.workers, drop_last=True,
                                persistent_workers=False, prefetch_factor=4 if cfg.workers else None)
            self.model.train()
            sums = {"loss": 0.0, "pos": 0.0, "neg": 0.0, "n": 0}
            start = time.perf_counter()
            for i, (z, x, labels) in enumerate(loader):
                lr = learning_rate(cfg, self.step, total)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                z = z.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                labels = labels.to(self.device)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    logits = self.model(z, x)
                loss = self.loss_fn(logits.float(), labels)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} at step {self.step}")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
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
                    on_step(i + 1, cfg.steps_per_epoch, loss.item())
            elapsed = time.perf_counter() - start
            self.epoch += 1
            n = max(1, sums["n"])
            row = {"epoch": self.epoch, "step": self.step, "lr": lr, "loss": sums["loss"] / n,
                   "pos_score": sums["pos"] / n, "neg_score": sums["neg"] / n,
                   "pairs_per_s": n * cfg.batch_size / elapsed, "seconds": elapsed}
            weights = self.save()
            row["weights"] = str(weights)
            self._append_csv(row)
            history.append(row)
            log.info("epoch %d loss %.4f pos %.3f neg %.3f %.1f pairs/s", self.epoch, row["loss"],
                     row["pos_score"], row["neg_score"], row["pairs_per_s"])
            if on_epoch is not None:
                on_epoch(row)
        return history

    def _append_csv(self, row: dict) -> None:
        path = self.run_dir / "metrics.csv"
        new = not path.is_file()
        with open(path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
