"""A stage's stored row: the spec's columns, provenance, the method's cost, the metrics."""
from __future__ import annotations

import torch

from ...benchmarks.sampling.few_shot import shots_hash
from ...methods.base import Method
from ...results.rows import provenance_columns, spec_columns
from ..spec import TrialSpec
from .context import TrialRun
from .evaluate import evaluate


def result_row(run: TrialRun, stage, test, train_full, indices, split_name: str = "test", columns=None) -> dict:
    """A stage's row: what was trained on and (unless it diverged) the
    evaluation of its last epoch on ``test`` (stored as ``split_name``;
    ``columns``: score only those classes, engine.evaluate.predict)."""
    row = stage.row if stage.diverged else {**stage.row, **evaluate(run, test, split_name, columns)}
    return {**base_row(run.spec, run.method, shots_hash(train_full, indices)), **row}


def parameter_counts(method: Method) -> tuple[int, int]:
    """(trainable, total) parameters, each counted once: the tower as the method
    holds it (with whatever it added inside: LoRA factors) plus its trainable
    parameters outside the tower. A ``trains_backbone`` method's in-tower
    parameters are trainable *and* part of the tower, so they are not added twice."""
    tower = {id(p): p.numel() for p in method.backbone.parameters()}
    outside = sum(p.numel() for p in method.trainable_parameters() if id(p) not in tower)
    return method.num_trainable(), sum(tower.values()) + outside


def base_row(spec: TrialSpec, method: Method | None, sampled_hash: str | None) -> dict:
    trainable, total = parameter_counts(method) if method is not None else (0, None)
    return {**spec_columns(spec), **provenance_columns(), "trainable_params": trainable,
            "total_params": total, "shots_hash": sampled_hash, "device": device_name()}


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu x{torch.get_num_threads()} threads"
