"""What one trial's stages share: device, precision, the built method, the splits.

``classification_trial`` is where a classification protocol starts: it reads
the dataset (once per process), applies ``eval_subset``, builds the method and
the per-epoch checkpoint store.
"""
from __future__ import annotations

import copy
import logging
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
from ..training import TRAINING_ID_LEGACY, TrainingConfig
from .checkpoint import Cadence, checkpoint_root

EpochCallback = Callable[[dict], None]
log = logging.getLogger(__name__)
# A spec written without a key added later ran with the behaviour before it
# (and its trial_id says so: spec.training_identity), whatever the new default.
LEGACY_TRAINING = dict(TRAINING_ID_LEGACY)


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
    checkpoint: Cadence | None  # a StageCheckpoint or RemoteStageCheckpoint

    def autocast(self):
        return autocast_for(self.device, self.training.precision)

    @property
    def precision(self) -> PrecisionPlan:
        return precision_plan(self.device, self.training.precision)

    def compute_precision(self) -> str:
        """The device type and dtype the tower computes in (``cpu-float32``,
        ``cuda-bfloat16``; ``cuda-float16-pure`` for fp16 weights without autocast)."""
        plan = self.precision
        name = f"{self.device.type}-{str(plan.compute_dtype).removeprefix('torch.')}"
        return name + "-pure" if plan.pure_half else name

    def inputs(self, batch: dict) -> dict:
        """A batch on the trial's device; floating tensors in the weights' dtype
        (fp16 under ``fp16_pure``, as the releases' ``image.type(self.dtype)``)."""
        dtype = self.precision.param_dtype
        return {k: v.to(self.device, dtype=dtype if v.is_floating_point() else None, non_blocking=True)
                for k, v in batch.items()}


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


#: ``fp16_pure`` off CUDA runs in fp32 (CPU half matmuls are slow or missing);
#: a test switches this off to check the half-precision build on a CPU.
PURE_HALF_NEEDS_CUDA = True


@dataclass(frozen=True)
class PrecisionPlan:
    """How a trial computes: the dtype of the weights and learned parameters, the
    autocast dtype (None: none), whether fp16 loss scaling runs, and a note when
    the device could not give what was asked."""

    param_dtype: torch.dtype = torch.float32
    autocast_dtype: torch.dtype | None = None
    loss_scaling: bool = False
    note: str | None = None

    @property
    def pure_half(self) -> bool:
        return self.param_dtype == torch.float16

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.autocast_dtype or self.param_dtype


def precision_plan(device: torch.device, precision: str) -> PrecisionPlan:
    """``auto``: bf16 autocast on a GPU with bf16, else fp16 autocast; fp32 on a CPU
    (CPU autocast is slower than fp32 for these models). ``fp16`` / ``bf16``:
    autocast (fp16 with loss scaling). ``fp16_pure``: the CoOp-family releases'
    precision: backbone and learned parameters in fp16, no autocast, no loss
    scaling; CUDA only, fp32 elsewhere (with a note)."""
    if precision == "fp16_pure":
        if device.type == "cuda" or not PURE_HALF_NEEDS_CUDA:
            return PrecisionPlan(param_dtype=torch.float16)
        return PrecisionPlan(note=f"precision fp16_pure needs CUDA: this trial ran in fp32 on {device.type}")
    if device.type != "cuda" or precision == "fp32":
        return PrecisionPlan()
    if precision == "fp16" or (precision == "auto" and not torch.cuda.is_bf16_supported()):
        return PrecisionPlan(autocast_dtype=torch.float16, loss_scaling=precision == "fp16")
    return PrecisionPlan(autocast_dtype=torch.bfloat16)


def compute_dtype(device: torch.device, precision: str) -> torch.dtype:
    return precision_plan(device, precision).compute_dtype


def autocast_for(device: torch.device, precision: str):
    dtype = precision_plan(device, precision).autocast_dtype
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def task_info(dataset, shots: int, classes=None) -> TaskInfo:
    """What a method learns about ``dataset``; ``classes`` (label ids, in order):
    only those classes, relabelled 0..m-1 (base-to-novel's halves)."""
    names = list(dataset.classnames)
    names = [names[int(c)] for c in classes] if classes is not None else names
    return TaskInfo(dataset.name, tuple(names), dataset.template, dataset.lore_template, shots)


def build_method(spec: TrialSpec, backbone, device: torch.device, dataset=None, task: TaskInfo | None = None) -> Method:
    dataset = dataset or get_dataset(spec.dataset, spec.data_root)
    task = task or task_info(dataset, spec.shots)
    cls = resolve_method(spec.method, spec.plugin)
    cfg = build_config(cls.Config, spec.method_config, spec.method)
    plan = precision_plan(device, spec.training.get("precision", "auto"))
    if plan.note:
        log.warning("%s (%s): %s", spec.method, spec.trial_id, plan.note)
    if plan.pure_half and not cls.runs_pure_fp16:
        raise ValueError(f"method '{spec.method}' does not run in precision fp16_pure (its class does not set "
                         "runs_pure_fp16 = True); use fp16, bf16, auto or fp32")
    if cls.trains_backbone or plan.pure_half:  # a half copy: the cached fp32 tower stays as built
        backbone = private_backbone(backbone)
    # Seed after the (cached, so sometimes skipped) backbone build: the random
    # stream of init, augmentation and data order must not depend on it.
    seed_everything(spec.seed)
    method = cls(cfg, backbone, task).to(device)
    # Built in fp32 (so initial values draw the same numbers), then cast whole, as
    # the releases do (CLIP in fp16, `.type(dtype)` on what they add).
    return method.to(plan.param_dtype) if plan.pure_half else method


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
def load_test_split(name: str, root: str | None):
    """The test split alone (a transfer target; ImageNet's shifted sets have no train split)."""
    return get_dataset(name, root).load_split("test")


@lru_cache(maxsize=8)
def load_split(name: str, root: str | None, split: str):
    """One split, kept per process: a trial that must not see the test split
    (the tuned protocol's search) reads only ``train``."""
    return get_dataset(name, root).load_split(split)


def eval_subset(test, spec: TrialSpec, dataset: str | None = None):
    """``protocol.eval_subset: N`` evaluates on a fixed class-balanced subset of
    about N test images (the same for every trial of the dataset) — for CPU
    demos only; the paper's protocol evaluates on the full test split.
    ``dataset``: the test split's dataset when it is not the spec's (a transfer target)."""
    n = int(spec.protocol_config.get("eval_subset") or 0)
    if n <= 0 or n >= len(test):
        return test
    per_class = max(1, -(-n // len(np.unique(test.labels))))
    return test.subset(sample_few_shot(test, dataset or spec.dataset, "test", per_class, seed=0))


def classification_trial(spec: TrialSpec, backbone, device: torch.device, checkpoint_dir: str | Path | None,
                         on_epoch: EpochCallback | None, task: TaskInfo | None = None,
                         keep_checkpoint: bool = True) -> ClassificationTrial:
    """``task``: the classes the method is built for, when not all of the dataset's.
    ``keep_checkpoint``: the trial's final state is read later (its checkpoint
    outlives the trial), so the last epoch is saved."""
    dataset = get_dataset(spec.dataset, spec.data_root)
    train_full, test = load_splits(spec.dataset, spec.data_root)
    test = eval_subset(test, spec)
    method = build_method(spec, backbone, device, dataset, task)
    training = TrainingConfig(**{**LEGACY_TRAINING, **spec.training})
    ckpt = (checkpoint_root(checkpoint_dir).trial(spec.trial_id, training.checkpoint_every_s, keep_checkpoint)
            if checkpoint_dir else None)
    run = TrialRun(spec, device, training, method, on_epoch, ckpt)
    if not dataset.embedded:  # decode + resize each file once per machine, not once per trial
        test = cached_split(test, spec.dataset, "test", backbone.info.image_size)
    return ClassificationTrial(run, dataset, train_full, test)
