"""Easy-to-hard protocol of LORE (section 4.2.1; docs/paper/protocols.md): which
training images each stage uses. Pure functions of features, labels and
predictions; the engine computes those and trains.

- Easy stage: per class, the first N images in herding order (iCaRL herding on
  the frozen backbone's image features): the most typical images first.
- Hard stage: per class, among the images the easy-stage model misclassifies,
  the N with the latest herding rank (ranked on the frozen backbone's features,
  the same ranking for every method); fewer than N when fewer are misclassified.

These are the ``paper`` / ``lore_bench`` rules; the ``authors`` recipe uses the
release's own (``released_herding.py``; docs/lore.md, "Easy-to-hard selection").

The authors' code ranks by herding order; the paper defines difficulty as the
cosine distance of a feature to its class centroid. Both are available as
``rule``: ``"herding"`` (default) or ``"centroid_distance"``.
"""
from __future__ import annotations

import numpy as np

DIFFICULTY_RULES = ("herding", "centroid_distance")
GRAM_FLOAT64_MAX = 4096


def _normalise(features) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be [N, D], got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def herding_order(features) -> np.ndarray:
    """iCaRL herding: positions ``0..n-1`` of ``features`` (one class) in the order
    that keeps the running mean of the chosen (L2-normalised) features closest to
    the class mean. Ties go to the lower position, so the order is deterministic.

    Step k picks argmin_i ||k*mu - (s + x_i)||^2 = ||x_i||^2 - 2 (k*mu - s).x_i + const,
    with s the sum of the chosen features; ``X @ s`` is kept up to date from the
    Gram matrix, so a step costs O(n) (1,300 images of 768-d: well under a second)."""
    x = _normalise(features)
    n = len(x)
    mu = x.mean(axis=0)
    x_mu = x @ mu
    # float32 for large classes (CIFAR's 5,000 per class) keeps the Gram matrix at 100 MB
    gram = x @ x.T if n <= GRAM_FLOAT64_MAX else (x.astype(np.float32) @ x.astype(np.float32).T)
    x_sq = np.diagonal(gram).astype(np.float64)
    x_s = np.zeros(n)
    available = np.ones(n, dtype=bool)
    order = np.empty(n, dtype=np.int64)
    for k in range(1, n + 1):
        score = np.where(available, x_sq - 2.0 * (k * x_mu - x_s), np.inf)
        pick = int(np.argmin(score))
        order[k - 1] = pick
        available[pick] = False
        x_s += gram[pick]
    return order


def centroid_distance(features) -> np.ndarray:
    """Cosine distance of each (one-class) feature to the class centroid."""
    x = _normalise(features)
    centroid = x.mean(axis=0)
    centroid /= max(np.linalg.norm(centroid), 1e-12)
    return 1.0 - x @ centroid


def difficulty_order(features, rule: str = "herding") -> np.ndarray:
    """Positions of one class's samples from easiest to hardest under ``rule``."""
    if rule == "herding":
        return herding_order(features)
    if rule == "centroid_distance":
        return np.argsort(centroid_distance(features), kind="stable")
    raise ValueError(f"unknown difficulty rule '{rule}'; expected one of {', '.join(DIFFICULTY_RULES)}")


def _per_class(labels) -> list[np.ndarray]:
    labels = np.asarray(labels)
    return [np.flatnonzero(labels == c) for c in np.unique(labels)]


def select_easy(features, labels, n: int, rule: str = "herding") -> np.ndarray:
    """Indices of the ``n`` easiest samples of each class (all of a smaller class),
    class by class, easiest first."""
    feats = np.asarray(features)
    chosen = [members[difficulty_order(feats[members], rule)[:n]] for members in _per_class(labels)]
    return np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64)


def select_hard(features, labels, predictions, n: int, rule: str = "herding") -> np.ndarray:
    """Indices of up to ``n`` samples per class that the easy-stage model
    misclassifies, the hardest (latest in difficulty order) first. Difficulty is
    ranked over the whole class, then restricted to the misclassified."""
    feats = np.asarray(features)
    labels = np.asarray(labels)
    wrong = np.asarray(predictions) != labels
    chosen = []
    for members in _per_class(labels):
        hardest_first = members[difficulty_order(feats[members], rule)[::-1]]
        chosen.append(hardest_first[wrong[hardest_first]][:n])
    return np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64)
