"""scikit-learn's 1,797 handwritten digits (embedded: ships in scikit-learn).

The originals are 8x8 ink counts 0..16 (16 = full ink). They are scaled to
0..255 as they are — bright digit on a black background, as in MNIST — and
upsampled bilinearly to 32x32 so the images are not single pixels after the
backbone's resize; no other change. No official split exists: a stratified
50/50 split by a SHA-256 of the sample index (see ``splits.py``).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from ..base import DATASETS, Dataset, ImageSplit
from ..splits.hashed import hash_split_of_pool

DIGITS = [str(d) for d in range(10)]
UPSAMPLED_SIZE = 32


@lru_cache(maxsize=1)
def _pool() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    small = np.clip(np.rint(data.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    size = (UPSAMPLED_SIZE, UPSAMPLED_SIZE)
    images = np.stack([np.asarray(Image.fromarray(im).resize(size, Image.BILINEAR)) for im in small])
    return images, data.target.astype(np.int64)


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
