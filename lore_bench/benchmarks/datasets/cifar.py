"""CIFAR-10 and CIFAR-100, official splits, read by torchvision's own classes.

torchvision checks every batch file against the MD5 of the official archive;
here the checksums are switched off (files are only required to exist) so the
same reader also loads small test fixtures, and because verifying 170 MB on
every trial start is a cost without a benefit — the counts are still checked.
"""
from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

import numpy as np
from ..base import DATASETS, ImageSplit
from ..prepared import Index, PreparedDataset, clean_classname
from ..splits.hashed import check_split_name, keyed_array_split


@lru_cache(maxsize=2)
def reader(name: str):
    """torchvision's class for ``name`` with the checksums off (imported here:
    torchvision is slow to import and only these two datasets need it)."""
    from torchvision.datasets import CIFAR10, CIFAR100

    cls = {"cifar10": CIFAR10, "cifar100": CIFAR100}[name]
    return type(cls.__name__ + "Unchecked", (cls,), {
        "train_list": [[file, None] for file, _ in cls.train_list],
        "test_list": [[file, None] for file, _ in cls.test_list],
        "meta": {**cls.meta, "md5": None},
    })


@lru_cache(maxsize=4)
def _arrays(name: str, folder: str, split: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    data = reader(name)(folder, train=(split == "train"), download=False)
    return data.data, np.asarray(data.targets, dtype=np.int64), tuple(data.classes)


class _Cifar(PreparedDataset):
    batches_folder: ClassVar[str]
    template = "a photo of a {}."
    lore_template = "This is a photo of a {}."
    image_files = False
    source = "the CIFAR page (cs.toronto.edu/~kriz/cifar.html), 'python version' archive, extracted as is"

    def _files(self) -> list[str]:
        cls = reader(self.name)
        return [n for n, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]

    def read_index(self) -> Index:
        base = self.dataset_dir / self.batches_folder
        for name in self._files():
            self.require(base / name)
        _, _, classes = _arrays(self.name, str(self.dataset_dir), "test")
        counts = {s: len(_arrays(self.name, str(self.dataset_dir), s)[1]) for s in ("train", "test")}
        # arrays, not files: doctor() reads the counts from the items' lengths
        items = {s: ([f"{s}:{i}" for i in range(n)], np.zeros(n, dtype=np.int64)) for s, n in counts.items()}
        return Index([clean_classname(c) for c in classes], base, items)

    def load_split(self, split: str) -> ImageSplit:
        check_split_name(self.name, split)
        self.index()  # raises DatasetMissingError naming a missing file
        images, labels, _ = _arrays(self.name, str(self.dataset_dir), split)
        self.check_count(split, len(labels))
        return keyed_array_split(f"{self.name}/{split}", images, labels, np.arange(len(labels)))


@DATASETS.register()
class Cifar10(_Cifar):
    name = "cifar10"
    description = "CIFAR-10, official split"
    folder = "cifar10"
    batches_folder = "cifar-10-batches-py"
    num_classes = 10
    expected_counts = {"train": 50000, "test": 10000}
    layout = """cifar10/
  cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch, batches.meta"""


@DATASETS.register()
class Cifar100(_Cifar):
    name = "cifar100"
    description = "CIFAR-100, official split"
    folder = "cifar100"
    batches_folder = "cifar-100-python"
    num_classes = 100
    expected_counts = {"train": 50000, "test": 10000}
    layout = """cifar100/
  cifar-100-python/train, test, meta"""
