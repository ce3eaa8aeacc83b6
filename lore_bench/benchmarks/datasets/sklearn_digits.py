"""scikit-learn's 1,797 handwritten digits (embedded: ships in scikit-learn).

The originals are 8x8 ink counts 0..16 (16 = full ink). They are scaled to
0..255 as they are — bright digit on a black background, as in MNIST — and
upsampled bilinearly to 32x32 so the images are not single pixels after the
backbone's resize; no other change. No official split exists: a stratified
50/50 split by a SHA-256 of the sample index (see ``splits.py``).
"""
from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from ..base import DATASETS, Dataset, ImageSplit
from ..pool_cache import shipped_file
from ..splits.hashed import hash_split_of_pool

DIGITS = [str(d) for d in range(10)]
UPSAMPLED_SIZE = 32


def shipped_digits_file() -> Path | None:
    """scikit-learn's own copy of the digits, found without importing
    scikit-learn: its import (with SciPy's) costs a second or more in every
    fresh Ray worker, for a 200 KB table."""
    return shipped_file("sklearn", "datasets", "data", "digits.csv.gz")


def raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images 8x8 float ink counts, targets), as ``sklearn.datasets.load_digits``
    returns them: it parses that same file the same way (comma-separated, 64
    pixels then the class); a test checks the two agree."""
    path = shipped_digits_file()
    if path is None:  # another scikit-learn layout: its own loader
        from sklearn.datasets import load_digits

        data = load_digits()
        return data.images, data.target
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(int)


@lru_cache(maxsize=1)
def _pool() -> tuple[np.ndarray, np.ndarray]:
    ink, target = raw_digits()
    small = np.clip(np.rint(ink * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    size = (UPSAMPLED_SIZE, UPSAMPLED_SIZE)
    images = np.stack([np.asarray(Image.fromarray(im).resize(size, Image.BILINEAR)) for im in small])
    return images, target.astype(np.int64)


@DATASETS.register()
class SklearnDigits(Dataset):
    name = "sklearn_digits"
    classnames = DIGITS
    template = "a photo of the digit {}."
    lore_template = "a photo of the digit {}."
    description = "scikit-learn load_digits: 1,797 8x8 digits upsampled to 32x32, 10 classes"
    embedded = True

    def load_split(self, split: str) -> ImageSplit:
        return hash_split_of_pool(self.name, split, *_pool())
