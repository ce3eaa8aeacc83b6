"""Deterministic few-shot sampling (docs/paper/protocols.md).

The sample is a pure function of (dataset, split, K, seed) and of the split's
stable keys: candidates are ordered by key, not by file-system listing order,
and the random generator is seeded from a hash of the arguments (never Python's
``hash``, which is salted per process). Every method therefore trains on the
same images on every machine.
"""
from __future__ import annotations

import hashlib

import numpy as np

from ..base import ImageSplit


def _seed_for(*parts: object) -> int:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def sample_few_shot(split: ImageSplit, dataset: str, split_name: str, shots: int, seed: int) -> np.ndarray:
    """Indices into ``split`` of ``shots`` images per class (all of a class's
    images when it has fewer), sorted by class then key."""
    if shots <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(_seed_for("fewshot", dataset, split_name, shots, seed))
    keys = np.asarray(split.keys)
    chosen: list[int] = []
    for cls in np.unique(split.labels):
        members = np.flatnonzero(split.labels == cls)
        members = members[np.argsort(keys[members], kind="stable")]
        take = min(shots, len(members))
        picked = rng.choice(len(members), size=take, replace=False)
        chosen.extend(members[np.sort(picked)].tolist())
    return np.asarray(chosen, dtype=np.int64)


def shots_hash(split: ImageSplit, indices: np.ndarray) -> str:
    """A hash of the sampled images' keys: traces a result row to its training images."""
    h = hashlib.sha256()
    for i in indices:
        h.update(split.keys[int(i)].encode())
        h.update(b"\0")
    return h.hexdigest()[:16]
