"""Stanford Dogs, official split (12,000 train / 8,580 test) from lists.tar's
train_list.mat / test_list.mat. Classes are the sorted image folders
(``n02085620-Chihuahua`` -> ``Chihuahua``), the order of the official labels."""
from __future__ import annotations

import numpy as np

from ..base import DATASETS
from ..prepared import Index, PreparedDataset, clean_classname


def _strings(cell) -> list[str]:
    """MATLAB cell array of strings (as scipy loads it) -> list of str."""
    out = []
    for item in np.asarray(cell, dtype=object).ravel():
        while isinstance(item, np.ndarray):
            item = item.ravel()[0]
        out.append(str(item))
    return out


@DATASETS.register()
class StanfordDogs(PreparedDataset):
    name = "stanford_dogs"
    description = "Stanford Dogs, 120 breeds, official split"
    folder = "stanford_dogs"
    num_classes = 120
    expected_counts = {"train": 12000, "test": 8580}
    template = "a photo of a {}."
    lore_template = "This is a photo of a {}, a type of dog."
    layout = """stanford_dogs/
  Images/n02085620-Chihuahua/n02085620_10074.jpg ...   (images.tar)
  train_list.mat, test_list.mat                        (lists.tar)"""
    source = "images.tar and lists.tar from the Stanford Dogs page (vision.stanford.edu/aditya86/ImageNetDogs/)"

    def read_index(self) -> Index:
        from scipy.io import loadmat

        image_dir = self.require(self.dataset_dir / "Images")
        files = {}
        for split in ("train", "test"):
            mat = loadmat(str(self.require(self.dataset_dir / f"{split}_list.mat")))
            if "file_list" not in mat:
                raise self.missing(self.dataset_dir / f"{split}_list.mat", "has no 'file_list' (not lists.tar's file)")
            files[split] = [p.replace("\\", "/") for p in _strings(mat["file_list"])]
        folders = sorted({p.split("/", 1)[0] for paths in files.values() for p in paths})
        label_of = {f: i for i, f in enumerate(folders)}
        items = {s: (paths, np.asarray([label_of[p.split("/", 1)[0]] for p in paths], dtype=np.int64))
                 for s, paths in files.items()}
        names = [clean_classname(f.split("-", 1)[1] if "-" in f else f) for f in folders]
        return Index(names, image_dir, items)
