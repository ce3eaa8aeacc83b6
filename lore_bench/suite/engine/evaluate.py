"""Score a trained method on an evaluation split: predictions, metrics, cost."""
from __future__ import annotations

import json
import time

import numpy as np
import torch

from ...results.correctness import pack_correct
from ...results.schema import STATUS_OK
from ..spec import canonical_json
from .context import TrialRun
from .data import build_transform, loader
from .fit import image_features
from .flops import gflops_per_image
from .memory import trial_peak_memory_mb
from .metrics import classification_metrics


@torch.no_grad()
def predict(run: TrialRun, split, columns=None) -> np.ndarray:
    """Predicted class per image; with ``columns`` (class indices of the method's
    classifier), the argmax over those classes only, as a position in ``columns``
    (a target that holds a subset of the training classes: ImageNet-A / -R)."""
    method = run.method
    keep = None if columns is None else torch.as_tensor(list(columns), dtype=torch.long)

    def pick(logits):
        return (logits if keep is None else logits[:, keep.to(logits.device)]).argmax(-1).cpu()

    method.eval()
    preds = []
    if method.caches_image_features:
        feats = image_features(run, split)
        for start in range(0, len(feats), run.training.eval_batch_size):
            with run.autocast():
                part = feats[start : start + run.training.eval_batch_size].to(run.precision.param_dtype)
                preds.append(pick(method.logits_from_features(part)))
    else:
        transform = build_transform(method.backbone.info, train_augment=False)
        for batch in loader(split, transform, run.training.eval_batch_size, shuffle=False):
            with run.autocast():
                preds.append(pick(method(batch["images"].to(run.device))))
    return torch.cat(preds).numpy() if preds else np.zeros(0, dtype=np.int64)


@torch.no_grad()
def adapted_features(run: TrialRun, split) -> torch.Tensor | None:
    """The trained model's own image features of ``split`` (eval mode, un-augmented),
    fp32 on the CPU: ``Method.adapted_features`` where the method provides it, the
    tower's features for a method that classifies from the frozen tower, else None."""
    method = run.method
    if not method.provides_adapted_features():
        return image_features(run, split).float().cpu() if method.caches_image_features else None
    method.eval()
    feats = []
    transform = build_transform(method.backbone.info, train_augment=False)
    for batch in loader(split, transform, run.training.eval_batch_size, shuffle=False):
        with run.autocast():
            feats.append(method.adapted_features(batch["images"].to(run.device)).float().cpu())
    return torch.cat(feats)


def evaluate(run: TrialRun, test, split_name: str = "test", columns=None) -> dict:
    """Metrics of ``test`` (``columns``: score only those classes, see :func:`predict`)."""
    t0 = time.perf_counter()
    pred = predict(run, test, columns)
    seconds = time.perf_counter() - t0
    m = classification_metrics(pred, test.labels, run.method.task.num_classes if columns is None else len(columns))
    size = run.method.backbone.info.image_size
    gflops = _gflops(run, size)
    return {"eval_split": split_name, "top1": m["top1"], "macro_f1": m["macro_f1"],
            "per_class_acc": json.dumps([round(a, 4) for a in m["per_class_acc"]]),
            "per_class_acc_min": m["per_class_acc_min"], "num_eval": len(test),
            "test_correct": pack_correct(pred == np.asarray(test.labels)) if split_name == "test" else None,
            "eval_seconds": seconds,
            "eval_images_per_s": len(test) / seconds if seconds > 0 else None,
            "peak_memory_mb": trial_peak_memory_mb(run.device), "gflops": gflops, "status": STATUS_OK}


_GFLOPS: dict[tuple, float] = {}  # per process: a worker reused across trials counts each setting once


def _gflops(run: TrialRun, size: int) -> float:
    """Inference GFLOPs per image: a function of the method, its config, the backbone, the class count, the
    shots (Tip-Adapter's cache grows with them) and the input size, not of the trained values, so it is
    counted (two extra forwards) once per process and setting, not once per trial."""
    spec = run.spec
    key = (spec.method, spec.plugin, canonical_json(spec.method_config), canonical_json(spec.backbone),
           run.method.task.num_classes, spec.shots, spec.protocol, size, run.device.type)
    if key not in _GFLOPS:
        _GFLOPS[key] = gflops_per_image(run.method, torch.zeros(1, 3, size, size, device=run.device))
    return _GFLOPS[key]
