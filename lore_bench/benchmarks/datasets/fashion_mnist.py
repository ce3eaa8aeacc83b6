"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (optional).

The package installs the four original idx files (gzip) under
/usr/share/datasets/fashion-mnist; the same files under
``<data root>/fashion-mnist`` are used first. The official split: 60,000 train,
10,000 test, 28x28 grey.
"""
from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..base import DATASETS, Dataset, DatasetMissingError, ImageSplit
from ..splits.hashed import check_split_name, keyed_array_split

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path: Path) -> np.ndarray:
    """Parse an (optionally gzipped) idx file: magic 0,0,dtype,ndim; big-endian dims."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@lru_cache(maxsize=4)
def _load(folder: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    images_file, labels_file = FILES[split]
    images = read_idx(Path(folder) / images_file)
    labels = read_idx(Path(folder) / labels_file).astype(np.int64)
    return images, labels


@DATASETS.register()
class FashionMnist(Dataset):
    name = "fashion_mnist"
    classnames = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"]
    template = "a photo of a {}."
    lore_template = "This is a photo of a {}."
    description = "Fashion-MNIST (Debian dataset-fashion-mnist): 60k/10k 28x28 clothing images, 10 classes"
    embedded = True

    def folder(self) -> Path:
        for candidate in (self.root / "fashion-mnist", SYSTEM_DIR):
            if all((candidate / f).is_file() for pair in FILES.values() for f in pair):
                return candidate
        wanted = ", ".join(f for pair in FILES.values() for f in pair)
        raise DatasetMissingError(
            f"fashion_mnist: the idx files ({wanted}) were found neither in {SYSTEM_DIR} nor in "
            f"{self.root / 'fashion-mnist'}; on Debian/Ubuntu run `apt-get install dataset-fashion-mnist`, "
            "or copy the four files from the Fashion-MNIST release into <data root>/fashion-mnist/"
        )

    def load_split(self, split: str) -> ImageSplit:
        check_split_name(self.name, split)
        images, labels = _load(str(self.folder()), split)
        return keyed_array_split(f"{self.name}/{split}", images, labels, np.arange(len(labels)))
