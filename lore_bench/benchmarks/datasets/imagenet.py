"""ImageNet-1k: the official train set, the official validation set as test.

Both splits in the usual one-folder-per-WordNet-id layout; class names (and the
label order) from CoOp's ``classnames.txt`` ("n01440764 tench" per line), since
WordNet ids are no use in a prompt.
"""
from __future__ import annotations

import os

import numpy as np

from ..base import DATASETS
from ..prepared import Index, PreparedDataset

SPLIT_DIRS = {"train": "train", "test": "val"}
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


@DATASETS.register()
class ImageNet(PreparedDataset):
    name = "imagenet"
    description = "ImageNet-1k (ILSVRC-2012), val as test"
    folder = "imagenet"
    num_classes = 1000
    expected_counts = {"train": 1281166, "test": 50000}  # the paper's table; the release has 1,281,167
    template = "a photo of a {}."
    lore_template = "This is a photo of a {}."
    layout = """imagenet/
  train/n01440764/n01440764_10026.JPEG ...
  val/n01440764/ILSVRC2012_val_00000293.JPEG ...   (validation images moved into class folders)
  classnames.txt                                   (lines "n01440764 tench")"""
    source = ("ILSVRC-2012 train and val archives from image-net.org (val sorted into class folders, e.g. with "
              "the usual valprep script); classnames.txt: CoOp's DATASETS.md (github.com/KaiyangZhou/CoOp)")

    def read_index(self) -> Index:
        lines = self.require(self.dataset_dir / "classnames.txt").read_text().splitlines()
        wnids, names = [], []
        for line in filter(str.strip, lines):
            wnid, _, name = line.strip().partition(" ")
            wnids.append(wnid)
            names.append(name.strip() or wnid)
        items = {}
        for split, sub in SPLIT_DIRS.items():
            base = self.require(self.dataset_dir / sub)
            paths, labels = [], []
            for label, wnid in enumerate(wnids):
                class_dir = base / wnid
                if not class_dir.is_dir():
                    raise self.missing(class_dir)
                # sorted: the split must not depend on directory listing order
                found = sorted(e.name for e in os.scandir(class_dir) if e.name.lower().endswith(IMAGE_SUFFIXES))
                paths += [f"{sub}/{wnid}/{f}" for f in found]
                labels += [label] * len(found)
            items[split] = (paths, np.asarray(labels, dtype=np.int64))
        return Index(names, self.dataset_dir, items)
