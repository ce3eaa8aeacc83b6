"""LORE's released easy-to-hard selection (the ``authors`` recipe), rule for rule.

Source: github.com/Mysteriousplayer/KGPT, ``data_processing/get_data_*.py``
(easy stage, precomputed on frozen CLIP ViT-B/16 ``encode_image`` features) and
``utils/get_hard_samples.py`` (hard stage, on the easy-stage LORE model's
``features`` output, called from ``methods/eth_dta.py``). What the release does:

- Herding is the LUCIR/iCaRL *update* form: ``w <- w + mu - x[pick]`` with
  ``pick = argmax(w . x)`` over **all** samples, picked ones included; a repeat
  pick assigns no new rank but still moves ``w``. Ranks are 1-based; a sample
  never picked before the loop stops keeps rank 0 ("unranked").
- The loop stops once ``max_ranked`` samples are ranked or after ``max_steps``
  picks. ``get_hard_sample_cifar10`` stops at 500 ranked of the 5,000 images of a
  class (10,000 steps), ``get_hard_sample_cifar`` at 500 (1,000 steps), the generic
  ``get_hard_sample`` at 150,000 (everything, 150,000 steps).
- Easy stage: the samples ranked 1..N, in index order.
- Hard stage: ``rank * wrong``, keep the values >= the N-th largest. With at
  least N wrong and ranked samples that is the N wrong ones with the latest rank;
  with fewer, the N-th largest is 0, every sample passes, and the class gets its
  **first N samples by index** (right or wrong). The result is in index order.

lore-bench's own rule (``difficulty.py``, recipes ``paper`` / ``lore_bench``)
keeps exclusion herding on every sample and only the misclassified ones.
"""
from __future__ import annotations

import numpy as np

#: dataset -> (max_ranked, max_steps) of the release's hard-stage herding; others: GENERIC
HARD_STAGE_CAPS = {"cifar10": (500, 10000), "cifar100": (500, 1000)}
GENERIC_CAPS = (150000, 150000)


def released_herding_ranks(features, max_ranked: int | None = None, max_steps: int | None = None) -> np.ndarray:
    """1-based herding rank of each row of ``features`` (one class), 0 if unranked.

    The arithmetic follows the release: float64 features, each column of ``D``
    L2-normalised, ``w`` starts at the mean, ``np.argmax`` (first index on ties)."""
    d = np.asarray(features, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"features must be [N, D], got shape {d.shape}")
    n = len(d)
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    mu = d.mean(axis=0)
    limit_ranked = n if max_ranked is None else min(n, max_ranked)
    limit_steps = GENERIC_CAPS[1] if max_steps is None else max_steps
    ranks = np.zeros(n, dtype=np.int64)
    w, ranked, steps = mu.copy(), 0, 0
    while ranked < limit_ranked and steps < limit_steps:
        pick = int(np.argmax(d @ w))
        steps += 1
        if ranks[pick] == 0:
            ranked += 1
            ranks[pick] = ranked
        w = w + mu - d[pick]
    return ranks


def _classes(labels) -> list[np.ndarray]:
    labels = np.asarray(labels)
    return [np.flatnonzero(labels == c) for c in np.unique(labels)]


def select_easy_released(features, labels, n: int) -> np.ndarray:
    """Per class, the samples ranked 1..n (``get_data_*.py``, task ``eth``), in index order."""
    feats = np.asarray(features)
    chosen = []
    for members in _classes(labels):
        # Only the first n ranks matter here, so the scripts' caps (>= 750) never bind.
        ranks = released_herding_ranks(feats[members], max_ranked=n)
        chosen.append(members[(ranks > 0) & (ranks <= n)])
    return np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64)


def select_hard_released(features, labels, predictions, n: int, dataset: str = "") -> np.ndarray:
    """Per class, ``get_hard_sample*``'s choice (module docstring), in index order.

    ``features`` are the easy-stage model's, ``predictions`` its predictions on
    every training image; ``dataset`` picks the release's ranking caps."""
    feats = np.asarray(features)
    labels = np.asarray(labels)
    wrong = np.asarray(predictions) != labels
    max_ranked, max_steps = HARD_STAGE_CAPS.get(dataset, GENERIC_CAPS)
    chosen = []
    for members in _classes(labels):
        score = released_herding_ranks(feats[members], max_ranked, max_steps) * wrong[members]
        take = min(n, len(members))
        nth_largest = np.partition(score, -take)[-take]
        # The release keeps score > nth_largest - 1 (integer ranks: >=); when fewer
        # than n are wrong and ranked that is 0, so every sample passes: first n by index.
        chosen.append(members[score >= nth_largest][:take])
    return np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64)
