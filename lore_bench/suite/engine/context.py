"""What one trial's stages share: device, precision, the built method, the splits.

``classification_trial`` is where a classification protocol starts: it reads
the dataset (once per process), applies ``eval_subset``, builds the method and
the per-epoch checkpoint store.
"""
from __future__ import annotations

import copy
import random
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ...benchmarks import get_dataset
from ...benchmarks.image_cache import cached_split
from ...benchmarks.sampling.few_shot import sample_few_shot
from ...methods.base import Method, TaskInfo, build_config
from ...methods.registry import resolve_method
from ..spec import TrialSpec
from ..training import TrainingConfig
from .checkpoint import StageCheckpoint

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

    def compute_precision(self) -> str:
        """The device type and dtype the tower computes in (``cpu-float32``, ``cuda-bfloat16``)."""
        return f"{self.device.type}-{str(compute_dtype(self.device, self.training.precision)).removeprefix('torch.')}"


@dataclass
class ClassificationTrial:
    """A classification trial ready to fit: its run, dataset and splits."""

    run: TrialRun
    dataset: object
    train_full: object  # the whole train split the protocol samples from
    test: object

    def train_subset(self, indices):
        """Training images by index, decoded once per machine for prepared datasets."""
        part = self.train_full.subset(indices)
        if self.dataset.embedded:
            return part
        return cached_split(part, self.run.spec.dataset, "train", self.run.method.backbone.info.image_size)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def compute_dtype(device: torch.device, precision: str) -> torch.dtype:
    if device.type != "cuda" or precision == "fp32":
        return torch.float32  # CPU autocast is slower than fp32 for these models
    if precision == "fp16" or (precision == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.float16
    return torch.bfloat16


def autocast_for(device: torch.device, precision: str):
    dtype = compute_dtype(device, precision)
    return nullcontext() if dtype == torch.float32 else torch.autocast("cuda", dtype=dtype)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_method(spec: TrialSpec, backbone, device: torch.device, dataset=None) -> Method:
    dataset = dataset or get_dataset(spec.dataset, spec.data_root)
    task = TaskInfo(dataset.name, tuple(dataset.classnames), dataset.template, dataset.lore_template, spec.shots)
    cls = resolve_method(spec.method, spec.plugin)
    cfg = build_config(cls.Config, spec.method_config, spec.method)
    if cls.trains_backbone:
        backbone = private_backbone(backbone)
    # Seed after the (cached, so sometimes skipped) backbone build: the random
    # stream of init, augmentation and data order must not depend on it.
    seed_everything(spec.seed)
    return cls(cfg, backbone, task).to(device)


def private_backbone(backbone):
    """A deep copy of the (process-cached) ``backbone`` for a method that changes
    it; frozen like the original. Tokenizers are shared: they hold no weights."""
    memo = {}
    text = getattr(backbone, "text", None)
    if text is not None and getattr(text, "tokenizer", None) is not None:
        memo[id(text.tokenizer)] = text.tokenizer
    return copy.deepcopy(backbone, memo).freeze()


@lru_cache(maxsize=8)
def load_splits(name: str, root: str | None):
    """Train and test splits, kept per process: trials that reuse a Ray worker
    skip re-reading (or re-generating) the dataset."""
    dataset = get_dataset(name, root)
    return dataset.load_split("train"), dataset.load_split("test")


@lru_cache(maxsize=8)
def load_split(name: str, root: str | None, split: str):
    """One split, kept per process: a trial that must not see the test split
    (the tuned protocol's search) reads only ``train``."""
    return get_dataset(name, root).load_split(split)


def eval_subset(test, spec: TrialSpec):
    """``protocol.eval_subset: N`` evaluates on a fixed class-balanced subset of
    about N test images (the same for every trial of the dataset) — for CPU
    demos only; the paper's protocol evaluates on the full test split."""
    n = int(spec.protocol_config.get("eval_subset") or 0)
    if n <= 0 or n >= len(test):
        return test
    per_class = max(1, -(-n // len(np.unique(test.labels))))
    return test.subset(sample_few_shot(test, spec.dataset, "test", per_class, seed=0))


def classification_trial(spec: TrialSpec, backbone, device: torch.device, checkpoint_dir: str | Path | None,
                         on_epoch: EpochCallback | None) -> ClassificationTrial:
    dataset = get_dataset(spec.dataset, spec.data_root)
    train_full, test = load_splits(spec.dataset, spec.data_root)
    test = eval_subset(test, spec)
    method = build_method(spec, backbone, device, dataset)
    ckpt = StageCheckpoint(Path(checkpoint_dir) / spec.trial_id) if checkpoint_dir else None
    run = TrialRun(spec, device, TrainingConfig(**spec.training), method, on_epoch, ckpt)
    if not dataset.embedded:  # decode + resize each file once per machine, not once per trial
        test = cached_split(test, spec.dataset, "test", backbone.info.image_size)
    return ClassificationTrial(run, dataset, train_full, test)
