"""One trial, end to end, in plain PyTorch (no Ray): build the backbone, data
and method; fit; evaluate the last epoch on the test split; return result rows.

Read top to bottom: ``run_trial`` -> ``_classification`` -> ``fit`` /
``evaluate``. The orchestrator calls the same function inside Ray workers;
a notebook can call ``lore_bench.run_trial(spec)`` directly.
"""
from __future__ import annotations

import json
import random
import resource
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import __version__
from ..backbones import build_backbone
from ..benchmarks import get_dataset
from ..benchmarks.fewshot import sample_few_shot, shots_hash
from ..benchmarks.image_cache import cached_split
from ..methods.base import Method, PrepareContext, TaskInfo, build_config
from ..methods.registry import resolve_method
from ..results.schema import STATUS_DIVERGED, STATUS_OK
from . import provenance, schedules
from .checkpoint import StageCheckpoint
from .data import build_transform, feature_batches, labels_tensor, loader
from .feature_cache import cached_features
from .flops import gflops_per_image
from .metrics import classification_metrics
from .spec import TrialSpec, canonical_json
from .training import TrainingConfig

EpochCallback = Callable[[dict], None]


@dataclass
class TrialOutput:
    rows: list[dict]
    epochs: list[dict] = field(default_factory=list)


@dataclass
class TrialRun:
    """Everything one trial's stages share."""

    spec: TrialSpec
    device: torch.device
    training: TrainingConfig
    method: Method
    on_epoch: EpochCallback | None
    checkpoint: StageCheckpoint | None

    def autocast(self):
        return autocast_for(self.device, self.training.precision)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_for(device: torch.device, precision: str):
    if device.type != "cuda" or precision == "fp32":
        return nullcontext()  # CPU autocast is slower than fp32 for these models
    if precision == "fp16" or (precision == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast("cuda", dtype=torch.bfloat16)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_trial(spec: TrialSpec, on_epoch: EpochCallback | None = None, checkpoint_dir: str | Path | None = None,
              device: torch.device | str | None = None) -> TrialOutput:
    """Run one trial. Exceptions propagate (the orchestrator retries and records
    them); a non-finite loss ends the trial with status ``diverged``."""
    device = torch.device(device) if device else pick_device()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    backbone = build_backbone(spec.backbone).to(device)
    if spec.task != "classification":
        from .frozen_trial import run_frozen

        return TrialOutput(run_frozen(spec, backbone, device, checkpoint_dir))
    dataset = get_dataset(spec.dataset, spec.data_root)
    train_full, test = load_splits(spec.dataset, spec.data_root)
    test = eval_subset(test, spec)
    method = build_method(spec, backbone, device, dataset)
    ckpt = StageCheckpoint(Path(checkpoint_dir) / spec.trial_id) if checkpoint_dir else None
    run = TrialRun(spec, device, TrainingConfig(**spec.training), method, on_epoch, ckpt)
    if not dataset.embedded:  # decode + resize each file once per machine, not once per trial
        test = cached_split(test, spec.dataset, "test", backbone.info.image_size)
    if spec.protocol == "easy_to_hard":
        from .easy_to_hard_stages import run_easy_to_hard

        return run_easy_to_hard(run, train_full, test, dataset.embedded)
    indices = sample_few_shot(train_full, spec.dataset, "train", spec.shots, spec.seed)
    train = train_full.subset(indices)
    if not dataset.embedded:
        train = cached_split(train, spec.dataset, "train", backbone.info.image_size)
    stage = fit(run, train, "main", run.training)
    return TrialOutput([result_row(run, stage, test, train_full, indices)], stage.epochs)


def result_row(run: TrialRun, stage: "StageResult", test, train_full, indices) -> dict:
    """A stage's stored row: the spec, what was trained on, and (unless it
    diverged) the evaluation of its last epoch."""
    row = stage.row if stage.diverged else {**stage.row, **evaluate(run, test)}
    return {**base_row(run.spec, run.method, shots_hash(train_full, indices)), **row}


def build_method(spec: TrialSpec, backbone, device: torch.device, dataset=None) -> Method:
    dataset = dataset or get_dataset(spec.dataset, spec.data_root)
    task = TaskInfo(dataset.name, tuple(dataset.classnames), dataset.template, dataset.lore_template, spec.shots)
    cls = resolve_method(spec.method, spec.plugin)
    # Seed after the (cached, so sometimes skipped) backbone build: the random
    # stream of init, augmentation and data order must not depend on it.
    seed_everything(spec.seed)
    return cls(build_config(cls.Config, spec.method_config, spec.method), backbone, task).to(device)


@lru_cache(maxsize=8)
def load_splits(name: str, root: str | None):
    """Train and test splits, kept per process: trials that reuse a Ray worker
    skip re-reading (or re-generating) the dataset."""
    dataset = get_dataset(name, root)
    return dataset.load_split("train"), dataset.load_split("test")


def eval_subset(test, spec: TrialSpec):
    """``protocol.eval_subset: N`` evaluates on a fixed class-balanced subset of
    about N test images (the same for every trial of the dataset) — for CPU
    demos only; the paper's protocol evaluates on the full test split."""
    n = int(spec.protocol_config.get("eval_subset") or 0)
    if n <= 0 or n >= len(test):
        return test
    per_class = max(1, -(-n // len(np.unique(test.labels))))
    return test.subset(sample_few_shot(test, spec.dataset, "test", per_class, seed=0))


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


def image_features(run: TrialRun, split) -> torch.Tensor:
    return cached_features(run.method.backbone, run.spec.backbone, split, run.spec.dataset, run.device,
                           run.training.eval_batch_size, run.autocast).to(run.device)


def lr_at(epoch: int, cfg: TrainingConfig) -> float:
    """The learning rate of ``epoch`` under ``cfg.schedule`` (suite/schedules.py)."""
    return schedules.lr_at(epoch, cfg)


def _optimizer(params, cfg: TrainingConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def fit(run: TrialRun, train, stage: str, cfg: TrainingConfig, after_prepare: Callable[[], None] | None = None) -> StageResult:
    method, spec = run.method, run.spec
    t_prepare = time.perf_counter()
    method.prepare(_prepare_context(run, train, stage))  # closed-form fits count as training time
    if after_prepare:
        after_prepare()
    prepare_seconds = time.perf_counter() - t_prepare
    params = list(method.trainable_parameters())
    epochs: list[dict] = []
    if cfg.epochs <= 0 or not params or len(train) == 0:
        return StageResult({"stage": stage, "num_train": len(train), "train_seconds": prepare_seconds}, epochs)
    optimizer = _optimizer(params, cfg)
    # fp16 needs loss scaling; a manual-backward method (ProGrad) writes unscaled
    # gradients itself, so the scaler would corrupt them.
    scaler = (torch.amp.GradScaler("cuda") if run.device.type == "cuda" and cfg.precision == "fp16"
              and not method.manual_backward else None)
    start_epoch, train_seconds = 0, prepare_seconds
    if run.checkpoint and (state := run.checkpoint.load(stage)):
        method.load_trainable_state_dict(state["method"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, train_seconds, epochs = state["epoch"] + 1, state["train_seconds"], state["epochs"]
    use_features = method.caches_image_features and not cfg.augment
    features = image_features(run, train) if use_features else None
    labels = labels_tensor(train)
    transform = build_transform(method.backbone.info, train_augment=cfg.augment)
    loss_value = epochs[-1]["train_loss"] if epochs else float("nan")
    for epoch in range(start_epoch, cfg.epochs):
        lr = lr_at(epoch, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # Augmentation and dropout draw from the global stream: reseed it per epoch
        # so a trial resumed from a checkpoint replays exactly what it missed.
        seed_everything(spec.seed * 100_003 + epoch + (0 if stage == "main" else 50_000))
        method.train()
        t0 = time.perf_counter()
        total, correct, seen = 0.0, 0, 0
        batches = (feature_batches(features, labels, cfg.batch_size, True, spec.seed, epoch) if use_features
                   else loader(train, transform, cfg.batch_size, True, spec.seed, epoch))
        for batch in batches:
            batch = {k: v.to(run.device, non_blocking=True) for k, v in batch.items()}
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
        if run.checkpoint:
            run.checkpoint.save(stage, {"epoch": epoch, "method": method.trainable_state_dict(),
                                        "optimizer": optimizer.state_dict(), "train_seconds": train_seconds,
                                        "epochs": epochs})
        if run.on_epoch:
            run.on_epoch({**record, "epochs_total": cfg.epochs})
    images = len(train) * cfg.epochs
    return StageResult({"stage": stage, "num_train": len(train), "train_seconds": train_seconds,
                        "final_train_loss": loss_value,
                        "train_images_per_s": images / train_seconds if train_seconds > 0 else None}, epochs)


@torch.no_grad()
def predict(run: TrialRun, split) -> np.ndarray:
    method = run.method
    method.eval()
    preds = []
    if method.caches_image_features:
        feats = image_features(run, split)
        for start in range(0, len(feats), run.training.eval_batch_size):
            with run.autocast():
                preds.append(method.logits_from_features(feats[start : start + run.training.eval_batch_size]).argmax(-1).cpu())
    else:
        transform = build_transform(method.backbone.info, train_augment=False)
        for batch in loader(split, transform, run.training.eval_batch_size, shuffle=False):
            with run.autocast():
                preds.append(method(batch["images"].to(run.device)).argmax(-1).cpu())
    return torch.cat(preds).numpy() if preds else np.zeros(0, dtype=np.int64)


def evaluate(run: TrialRun, test, split_name: str = "test") -> dict:
    t0 = time.perf_counter()
    pred = predict(run, test)
    seconds = time.perf_counter() - t0
    m = classification_metrics(pred, test.labels, run.method.task.num_classes)
    size = run.method.backbone.info.image_size
    gflops = gflops_per_image(run.method, torch.zeros(1, 3, size, size, device=run.device))
    return {"eval_split": split_name, "top1": m["top1"], "macro_f1": m["macro_f1"],
            "per_class_acc": json.dumps([round(a, 4) for a in m["per_class_acc"]]),
            "per_class_acc_min": m["per_class_acc_min"], "num_eval": len(test), "eval_seconds": seconds,
            "eval_images_per_s": len(test) / seconds if seconds > 0 else None,
            "peak_memory_mb": peak_memory_mb(run.device), "gflops": gflops, "status": STATUS_OK}


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # Peak resident set of this process (worker), in MB (Linux reports KiB).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def base_row(spec: TrialSpec, method: Method | None, sampled_hash: str | None) -> dict:
    total = sum(p.numel() for p in method.backbone.parameters()) if method is not None else None
    trainable = method.num_trainable() if method is not None else 0
    return {
        "trial_id": spec.trial_id, "suite": spec.suite, "task": spec.task, "method": spec.method,
        "backbone": spec.backbone_name, "dataset": spec.dataset, "protocol": spec.protocol,
        "shots": spec.shots, "seed": spec.seed, "method_config": canonical_json(spec.method_config),
        "training_config": canonical_json(spec.training), "spec_json": spec.to_json(),
        "trainable_params": trainable, "total_params": (total or 0) + trainable if total is not None else None,
        "shots_hash": sampled_hash, "device": _device_name(),
        "lore_bench_version": __version__, "git_sha": provenance.git_sha(),
        "package_versions": provenance.package_versions(), "hostname": provenance.hostname(),
    }


def _device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu x{torch.get_num_threads()} threads"


__all__ = ["run_trial", "TrialOutput", "fit", "evaluate", "predict", "lr_at"]
