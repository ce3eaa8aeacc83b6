"""Train one stage of a trial: prepare (closed-form fits), then the epoch loop.

The engine owns the optimizer, schedule, precision, data order, checkpoints
and timing; the method supplies only its trainable parameters (its own and,
for a ``trains_backbone`` method, those inside its private tower) and its loss.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch

from ...methods.base import Method, PrepareContext
from ...results.schema import STATUS_DIVERGED
from .. import schedules
from ..training import TrainingConfig
from .context import TrialRun, seed_everything
from .data import build_transform, feature_batches, labels_tensor, loader
from .device_data import device_views
from .feature_cache import augmented_view_features, cached_features, compute_features


class NothingToTrainError(ValueError):
    """A method that learns from training images has nothing to learn with."""


@dataclass
class StageResult:
    row: dict
    epochs: list[dict]
    diverged: bool = False


def _prepare_context(run: TrialRun, train, stage: str) -> PrepareContext:
    plain = build_transform(run.method.backbone.info, train_augment=False)
    return PrepareContext(
        device=run.device,
        labels=labels_tensor(train),
        stage=stage,
        _batches=lambda: loader(train, plain, run.training.eval_batch_size, shuffle=False),
        _features=lambda: image_features(run, train),
    )


def uses_feature_cache(method: Method) -> bool:
    """Cached features only for a frozen, untouched tower: never for a method
    that trains inside it, whatever it declares about caching."""
    return method.caches_image_features and not method.trains_backbone


def image_features(run: TrialRun, split) -> torch.Tensor:
    """The method's tower's features of ``split`` (un-augmented), from the cache where exact."""
    # fp16_pure runs a half copy of the tower, so the cache (keyed by the tower as
    # built) does not apply; the features are fp32 copies of its fp16 ones.
    if not uses_feature_cache(run.method) or run.precision.pure_half:
        return compute_features(run.method.backbone, split, run.device, run.training.eval_batch_size,
                                run.autocast).to(run.device)
    return cached_features(run.method.backbone, run.spec.backbone, split, run.spec.dataset, run.device,
                           run.training.eval_batch_size, run.autocast, run.compute_precision()).to(run.device)


def check_something_to_train(method: Method, params: list) -> None:
    """Before training: a method that uses training data must train something or fit in ``prepare``."""
    if params or not method.uses_training_data or type(method).prepare is not Method.prepare:
        return
    inside = sum(p.numel() for n, p in method.named_parameters() if p.requires_grad and n.startswith("backbone."))
    hint = (f" It set requires_grad on {inside} backbone parameters without declaring `trains_backbone = True`, "
            "so the engine does not train them." if inside and not method.trains_backbone else "")
    raise NothingToTrainError(
        f"method '{method.name}' uses training data but has no trainable parameters and no prepare(), so it "
        f"would run as an untrained model.{hint} Give it parameters (requires_grad=True); to train parameters "
        "inside the backbone, declare `trains_backbone = True` and unfreeze or wrap them in __init__; "
        "for a closed-form fit override prepare(); if it learns nothing from images, set "
        "`uses_training_data = False`.")


def lr_at(epoch: int, cfg: TrainingConfig) -> float:
    """The learning rate of ``epoch`` under ``cfg.schedule`` (suite/schedules.py)."""
    return schedules.lr_at(epoch, cfg)


def seen_per_epoch(n: int, cfg: TrainingConfig) -> int:
    """Training images one epoch consumes (a dropped last batch is not seen)."""
    return n - n % cfg.batch_size if cfg.drop_last and n >= cfg.batch_size else n


def _optimizer(params, cfg: TrainingConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def fit(run: TrialRun, train, stage: str, cfg: TrainingConfig, after_prepare: Callable[[], None] | None = None,
        final_checkpoint: bool | None = None) -> StageResult:
    """``final_checkpoint``: save the state after the last epoch (None: when the
    trial's checkpoint is kept, ``StageCheckpoint.keep_final``); a stage that a
    later stage of the same trial builds on passes True."""
    method, spec = run.method, run.spec
    t_prepare = time.perf_counter()
    method.prepare(_prepare_context(run, train, stage))  # closed-form fits count as training time
    if after_prepare:
        after_prepare()
    prepare_seconds = time.perf_counter() - t_prepare
    params = list(method.trainable_parameters())
    check_something_to_train(method, params)
    epochs: list[dict] = []
    if cfg.epochs <= 0 or not params or len(train) == 0:
        return StageResult({"stage": stage, "num_train": len(train), "train_seconds": prepare_seconds}, epochs)
    optimizer = _optimizer(params, cfg)
    # fp16 needs loss scaling; a manual-backward method (ProGrad) writes unscaled
    # gradients itself, so the scaler would corrupt them.
    scaler = (torch.amp.GradScaler("cuda") if run.precision.loss_scaling and not method.manual_backward
              else None)
    start_epoch, train_seconds = 0, prepare_seconds
    if run.checkpoint and (state := run.checkpoint.load(stage)):
        method.load_trainable_state_dict(state["method"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, train_seconds, epochs = state["epoch"] + 1, state["train_seconds"], state["epochs"]
    use_features = uses_feature_cache(method) and not cfg.augment
    features = image_features(run, train) if use_features else None
    labels = labels_tensor(train)
    transform = build_transform(method.backbone.info, train_augment=cfg.augment)
    # Augmented views made on the device in batches, where equivalent (device_data.py); else the CPU loader.
    views = (device_views(train, labels, method.backbone.info, run.device)
             if cfg.augment and cfg.data_path == "device" and not use_features and start_epoch < cfg.epochs else None)
    loss_value = epochs[-1]["train_loss"] if epochs else float("nan")
    for epoch in range(start_epoch, cfg.epochs):
        lr = lr_at(epoch, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # Augmentation and dropout draw from the global stream: reseed it per epoch
        # so a trial resumed from a checkpoint replays exactly what it missed.
        epoch_seed = spec.seed * 100_003 + epoch + (0 if stage == "main" else 50_000)
        seed_everything(epoch_seed)
        method.train()
        t0 = time.perf_counter()
        total, correct, seen = 0.0, 0, 0
        if use_features:
            batches = feature_batches(features, labels, cfg.batch_size, True, spec.seed, epoch, cfg.drop_last)
        elif views is not None and uses_feature_cache(method):  # a frozen tower: its views' features, shared
            view_feats = augmented_view_features(method.backbone, spec.backbone, train, spec.dataset, views,
                                                 epoch_seed, cfg.eval_batch_size, run.autocast,
                                                 run.compute_precision()).to(run.device)
            batches = views.feature_batches(view_feats, cfg.batch_size, spec.seed * 100_003 + epoch, cfg.drop_last)
        elif views is not None:
            batches = views.batches(cfg.batch_size, spec.seed * 100_003 + epoch, epoch_seed, cfg.drop_last)
        else:
            batches = loader(train, transform, cfg.batch_size, True, spec.seed, epoch, cfg.drop_last)
        for batch in batches:
            batch = run.inputs(batch)
            optimizer.zero_grad(set_to_none=True)
            with run.autocast():
                out = method.training_step(batch)
            loss = out["loss"]
            if not torch.isfinite(loss):
                return StageResult({"stage": stage, "num_train": len(train), "train_seconds": train_seconds,
                                    "status": STATUS_DIVERGED,
                                    "error": f"non-finite loss at epoch {epoch + 1}"}, epochs, diverged=True)
            if not method.manual_backward:
                scaler.scale(loss).backward() if scaler else loss.backward()
            scaler.step(optimizer) if scaler else optimizer.step()
            if scaler:
                scaler.update()
            n = len(batch["labels"])
            total += float(loss.detach()) * n
            seen += n
            if "logits" in out:
                correct += int((out["logits"].argmax(-1) == batch["labels"]).sum())
        seconds = time.perf_counter() - t0
        train_seconds += seconds
        loss_value = total / max(1, seen)
        record = {"trial_id": spec.trial_id, "stage": stage, "epoch": epoch + 1, "train_loss": loss_value,
                  "train_acc": 100.0 * correct / max(1, seen), "lr": lr, "seconds": seconds}
        epochs.append(record)
        if run.checkpoint and run.checkpoint.due(epoch + 1 == cfg.epochs, final_checkpoint):
            run.checkpoint.save(stage, {"epoch": epoch, "method": method.trainable_state_dict(),
                                        "optimizer": optimizer.state_dict(), "train_seconds": train_seconds,
                                        "epochs": epochs})
        if run.on_epoch:
            run.on_epoch({**record, "epochs_total": cfg.epochs})
    images = seen_per_epoch(len(train), cfg) * cfg.epochs
    return StageResult({"stage": stage, "num_train": len(train), "train_seconds": train_seconds,
                        "final_train_loss": loss_value,
                        "train_images_per_s": images / train_seconds if train_seconds > 0 else None}, epochs)
