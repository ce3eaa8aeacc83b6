"""Learning-rate schedules: the rate of every epoch as a pure function of the
epoch and the training config (``TrainingConfig.schedule``).

- ``cosine`` (lore-bench's original): ``warmup_epochs`` at a constant
  ``warmup_lr``, then cosine from ``lr`` to ``min_lr`` over the *remaining*
  epochs; with a budget no longer than the warm-up the warm-up is skipped.
- ``dassl_cosine`` (CoOp, CoCoOp, MaPLe, VPT on CLIP, ProGrad, CLIP-Adapter):
  Dassl's ConstantWarmupScheduler around CosineAnnealingLR(T_max = epochs) with
  WARMUP_RECOUNT, stepped once per epoch. The cosine restarts its count after the
  warm-up but keeps T_max = all epochs, so epoch e >= warmup runs at
  ``min_lr + (lr - min_lr) (1 + cos(pi (e - warmup) / epochs)) / 2`` and the last
  epoch stays well above 0 (5 epochs at 0.0035: 1e-5, 0.0035, 0.00317, 0.00229, 0.00121).
- ``lore_cosine`` (LORE's fs_dta.py / eth_dta.py): CosineAnnealingLR(T_max = epochs,
  eta_min = min_lr) stepped after every epoch, no warm-up: epoch e runs at
  ``min_lr + (lr - min_lr) (1 + cos(pi e / epochs)) / 2``.
"""
from __future__ import annotations

import math

SCHEDULES = ("cosine", "dassl_cosine", "lore_cosine")


def _cos(lr: float, min_lr: float, t: float) -> float:
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t))


def lore_bench_cosine(epoch: int, epochs: int, lr: float, min_lr: float, warmup_epochs: int, warmup_lr: float) -> float:
    warmup = warmup_epochs if epochs > warmup_epochs else 0
    if epoch < warmup:
        return warmup_lr
    return _cos(lr, min_lr, (epoch - warmup) / max(1, epochs - warmup))


def dassl_cosine(epoch: int, epochs: int, lr: float, min_lr: float, warmup_epochs: int, warmup_lr: float) -> float:
    if epoch < warmup_epochs:
        return warmup_lr
    return _cos(lr, min_lr, (epoch - warmup_epochs) / max(1, epochs))


def lore_cosine(epoch: int, epochs: int, lr: float, min_lr: float) -> float:
    return _cos(lr, min_lr, epoch / max(1, epochs))


def lr_at(epoch: int, cfg) -> float:
    """The learning rate of ``epoch`` (0-based) under ``cfg`` (a TrainingConfig)."""
    name = getattr(cfg, "schedule", "cosine")
    if name == "cosine":
        return lore_bench_cosine(epoch, cfg.epochs, cfg.lr, cfg.min_lr, cfg.warmup_epochs, cfg.warmup_lr)
    if name == "dassl_cosine":
        return dassl_cosine(epoch, cfg.epochs, cfg.lr, cfg.min_lr, cfg.warmup_epochs, cfg.warmup_lr)
    if name == "lore_cosine":
        if cfg.warmup_epochs > 0:
            raise ValueError("schedule 'lore_cosine' has no warm-up (LORE's release); set warmup_epochs: 0")
        return lore_cosine(epoch, cfg.epochs, cfg.lr, cfg.min_lr)
    raise ValueError(f"schedule '{name}' is not one of: {', '.join(SCHEDULES)}")
