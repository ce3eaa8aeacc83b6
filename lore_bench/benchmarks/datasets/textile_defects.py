"""Simulated textile images with local / global defects, from the PyPI package
``conformal-clip-data`` (MIT): 2,000 250x250 RGB JPEGs in one folder per class
(nominal 1,000, local 500, global 500).

Images are kept at native size; the backbone's preprocessing resizes them (at
32 px a local defect is about one pixel, so this set mainly shows few-shot and
linear-probe behaviour). No split ships: a stratified 50/50 split by a SHA-256
of the relative path (see ``splits.py``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..base import DATASETS, Dataset, DatasetMissingError, ImageSplit
from ..splits.hashed import check_split_name, file_split, stratified_hash_split

#: class index -> folder name inside the package
FOLDERS = ("nominal", "local", "global")


def package_root() -> Path:
    try:
        import conformal_clip_data
    except ImportError as err:
        raise DatasetMissingError(
            "textile_defects: the package 'conformal-clip-data' is not installed; "
            "install it with `pip install conformal-clip-data` (it ships the images)"
        ) from err
    return Path(conformal_clip_data.textile_simulated_root())


@DATASETS.register()
class TextileDefects(Dataset):
    name = "textile_defects"
    classnames = ["nominal", "local defect", "global defect"]
    template = "a photo of a {} textile."
    lore_template = "a photo of a {} textile."
    description = "conformal-clip-data: 2,000 simulated textile images, nominal / local / global defect"
    embedded = True

    def _pool(self) -> tuple[Path, list[str], np.ndarray]:
        root = package_root()
        relpaths: list[str] = []
        labels: list[int] = []
        for label, folder in enumerate(FOLDERS):
            # sorted: the pool must not depend on directory listing order
            files = sorted(p.name for p in (root / folder).glob("*.jpg"))
            if not files:
                raise DatasetMissingError(f"textile_defects: no images in {root / folder}; reinstall conformal-clip-data")
            relpaths += [f"{folder}/{f}" for f in files]
            labels += [label] * len(files)
        return root, relpaths, np.asarray(labels, dtype=np.int64)

    def load_split(self, split: str) -> ImageSplit:
        check_split_name(self.name, split)
        root, relpaths, labels = self._pool()
        idx = stratified_hash_split(relpaths, labels, self.name)[split]
        return file_split(root, [relpaths[i] for i in idx], labels[idx])
