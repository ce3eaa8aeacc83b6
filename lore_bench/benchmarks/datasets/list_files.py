"""Paper datasets whose split is given by plain list files of image paths, one
folder per class: DTD (official partition 1), RESISC45 and PatternNet.

RESISC45 and PatternNet ship without any split; the loader reads the user's
``train.txt`` / ``test.txt`` and never draws one itself (the paper's counts,
6,300/25,200 and 24,320/6,080, are checked with a warning).
"""
from __future__ import annotations

import re
from typing import ClassVar

import numpy as np

from ..base import DATASETS
from ..prepared import Index, PreparedDataset, clean_classname


def class_folder(line: str) -> tuple[str, str]:
    """A list line -> (relative path, class folder). ``class/file.jpg`` names its
    folder; a bare ``class_name_012.jpg`` (torchgeo's lists) has the class as its stem
    without the trailing number."""
    line = line.strip().replace("\\", "/")
    if "/" in line:
        folder = line.split("/", 1)[0]
        return line, folder
    folder = re.sub(r"_?\d+$", "", line.rsplit(".", 1)[0])
    return f"{folder}/{line}", folder


class ListFileDataset(PreparedDataset):
    image_subdir: ClassVar[str]
    #: split -> list files (relative to dataset_dir) whose lines make up that split
    list_files: ClassVar[dict[str, tuple[str, ...]]]

    def folder_to_classname(self, folder: str) -> str:
        return clean_classname(folder)

    def read_index(self) -> Index:
        image_dir = self.require(self.dataset_dir / self.image_subdir)
        lines: dict[str, list[tuple[str, str]]] = {}
        for split, files in self.list_files.items():
            lines[split] = []
            for name in files:
                text = self.require(self.dataset_dir / name).read_text()
                lines[split] += [class_folder(l) for l in text.splitlines() if l.strip()]
        # class order: sorted folder names (the order of the datasets' own releases)
        folders = sorted({folder for entries in lines.values() for _, folder in entries})
        label_of = {f: i for i, f in enumerate(folders)}
        items = {split: ([p for p, _ in entries], np.asarray([label_of[f] for _, f in entries], dtype=np.int64))
                 for split, entries in lines.items()}
        return Index([self.folder_to_classname(f) for f in folders], image_dir, items)


@DATASETS.register()
class DTD(ListFileDataset):
    name = "dtd"
    description = "Describable Textures, official partition 1 (train = train1 + val1)"
    folder = "dtd"
    image_subdir = "images"
    list_files = {"train": ("labels/train1.txt", "labels/val1.txt"), "test": ("labels/test1.txt",)}
    num_classes = 47
    expected_counts = {"train": 3760, "test": 1880}
    template = "{} texture."
    lore_template = "This is a photo of a {}."
    layout = """dtd/
  images/banded/banded_0002.jpg ...
  labels/train1.txt, val1.txt, test1.txt      (lines like banded/banded_0002.jpg)"""
    source = "dtd-r1.0.1.tar.gz from the DTD page (robots.ox.ac.uk/~vgg/data/dtd/), extracted as is"


@DATASETS.register()
class RESISC45(ListFileDataset):
    name = "resisc45"
    description = "NWPU-RESISC45 with user-supplied train/test lists"
    folder = "resisc45"
    image_subdir = "NWPU-RESISC45"
    list_files = {"train": ("train.txt",), "test": ("test.txt",)}
    num_classes = 45
    expected_counts = {"train": 6300, "test": 25200}
    template = "a photo of a {}."
    lore_template = "aerial imagery of a {}."
    layout = """resisc45/
  NWPU-RESISC45/airplane/airplane_001.jpg ... (45 class folders, 700 images each)
  train.txt, test.txt                         (one image per line: airplane/airplane_001.jpg or airplane_001.jpg)"""
    source = ("images: the NWPU-RESISC45 release (NWPU-RESISC45.rar); the dataset has no official file lists, "
              "so train.txt/test.txt must come with the protocol you reproduce (the LORE paper: 140 train / "
              "560 test images per class)")


@DATASETS.register()
class PatternNet(ListFileDataset):
    name = "patternnet"
    description = "PatternNet with user-supplied train/test lists"
    folder = "patternnet"
    image_subdir = "PatternNet/images"
    list_files = {"train": ("train.txt",), "test": ("test.txt",)}
    num_classes = 38
    expected_counts = {"train": 24320, "test": 6080}
    template = "a photo of a {}."
    lore_template = "aerial imagery of a {}."
    layout = """patternnet/
  PatternNet/images/airplane/airplane001.jpg ...  (38 class folders, 800 images each)
  train.txt, test.txt                             (one image per line: airplane/airplane001.jpg)"""
    source = ("images: the PatternNet release (PatternNet.zip); the dataset has no official file lists, so "
              "train.txt/test.txt must come with the protocol you reproduce (the LORE paper: 640 train / "
              "160 test images per class)")
