"""Score a trained method on an evaluation split: predictions, metrics, cost."""
from __future__ import annotations

import json
import time

import numpy as np
import torch

from ...results.correctness import pack_correct
from ...results.schema import STATUS_OK
from .context import TrialRun
from .data import build_transform, loader
from .fit import image_features
from .flops import gflops_per_image
from .memory import trial_peak_memory_mb
from .metrics import classification_metrics


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
            "per_class_acc_min": m["per_class_acc_min"], "num_eval": len(test),
            "test_correct": pack_correct(pred == np.asarray(test.labels)) if split_name == "test" else None,
            "eval_seconds": seconds,
            "eval_images_per_s": len(test) / seconds if seconds > 0 else None,
            "peak_memory_mb": trial_peak_memory_mb(run.device), "gflops": gflops, "status": STATUS_OK}
