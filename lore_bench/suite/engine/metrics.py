"""Classification metrics from predictions (no sklearn needed on the hot path)."""
from __future__ import annotations

import numpy as np


def classification_metrics(pred: np.ndarray, target: np.ndarray, num_classes: int) -> dict:
    """top-1 %, macro-F1 %, per-class accuracy % (classes absent from the
    evaluation set are left out of the per-class figures)."""
    pred = np.asarray(pred, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (target, pred), 1)
    tp = np.diag(confusion).astype(float)
    support = confusion.sum(axis=1).astype(float)
    predicted = confusion.sum(axis=0).astype(float)
    present = support > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, tp / support, 0.0)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    per_class = (100 * recall[present]).tolist()
    return {
        "top1": 100.0 * float(tp.sum() / max(1, len(target))),
        "macro_f1": 100.0 * float(f1[present].mean()) if present.any() else 0.0,
        "per_class_acc": per_class,
        "per_class_acc_min": min(per_class) if per_class else None,
    }
