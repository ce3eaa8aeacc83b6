"""Texture patches cut from scikit-image's real photographs (brick, grass, gravel).

Each 512x512 photograph is cut into 64x64 windows, shrunk to 32x32. Train and
test come from separate horizontal bands of the photograph with a gap between
them, so no pixel of a test image is in any training image. No randomness:
the split is fixed by geometry.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from ..base import DATASETS, Dataset, DatasetMissingError, ImageSplit, array_split

WINDOW, OUT, STRIDE = 64, 32, 24
#: rows [start, stop) of the photograph each split may use; rows 320-335 are a gap
BANDS = {"train": (0, 320), "test": (336, 512)}


def _photograph(name: str) -> np.ndarray:
    try:
        import skimage.data
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise DatasetMissingError("textures needs scikit-image (pip install scikit-image)") from err
    img = np.asarray(getattr(skimage.data, name)())
    return img if img.ndim == 2 else img[..., 0]


@lru_cache(maxsize=2)
def _patches(split: str) -> tuple[np.ndarray, np.ndarray]:
    top, bottom = BANDS[split]
    images, labels = [], []
    for label, name in enumerate(Textures.classnames):
        photo = _photograph(name)
        for y in range(top, bottom - WINDOW + 1, STRIDE):
            for x in range(0, photo.shape[1] - WINDOW + 1, STRIDE):
                window = Image.fromarray(photo[y : y + WINDOW, x : x + WINDOW])
                images.append(np.asarray(window.resize((OUT, OUT), Image.BOX)))
                labels.append(label)
    return np.stack(images), np.asarray(labels)


@DATASETS.register()
class Textures(Dataset):
    name = "textures"
    classnames = ["brick", "grass", "gravel"]
    template = "a photo of {} texture."
    lore_template = "This is a photo of {} texture."
    description = "32x32 grey patches of scikit-image's brick, grass and gravel photographs; train/test from disjoint bands"
    embedded = True

    def load_split(self, split: str) -> ImageSplit:
        if split not in BANDS:
            raise ValueError(f"textures has splits {sorted(BANDS)}, not '{split}'")
        images, labels = _patches(split)
        return array_split(f"textures-{split}", images, labels)
