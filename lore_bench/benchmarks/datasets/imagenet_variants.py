"""ImageNet's evaluation-only shifted test sets: ImageNet-V2, -Sketch, -A, -R.

Layouts as CoOp's DATASETS.md prepares them (KaiyangZhou/CoOp, each folder with
a copy of ImageNet's ``classnames.txt``, "n01440764 tench" per line in ImageNet's
label order); the folder readers follow CoOp's ``datasets/imagenetv2.py``,
``imagenet_sketch.py``, ``imagenet_a.py``, ``imagenet_r.py``:
- V2 (matched frequency): folders ``0`` .. ``999``, folder i = ImageNet class i;
- Sketch: 1,000 WordNet-id folders;
- A and R: 200 WordNet-id folders each (a subset of ImageNet's classes); label i
  = the i-th folder in sorted order, as in CoOp.
Each has only a test split. ``source_class_indices()`` gives, per label, the
ImageNet class it is: a model trained on ImageNet scores these sets over
exactly those classes (the transfer protocols, engine.evaluate.predict columns).
"""
from __future__ import annotations

import os
from typing import ClassVar

import numpy as np

from ..base import DATASETS, DatasetMissingError, ImageSplit
from ..prepared import Index, PreparedDataset

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
IGNORED = {"README.txt"}  # CoOp's TO_BE_IGNORED in the -A / -R folders


class ImageNetVariant(PreparedDataset):
    """One of ImageNet's shifted test sets (classes: ImageNet's or a subset)."""

    #: the dataset whose classes these are (the transfer protocols map labels to it)
    class_source: ClassVar[str] = "imagenet"
    image_subdir: ClassVar[str]
    #: "index": folders 0..999 name ImageNet labels (V2); "wnid": WordNet-id folders
    folder_names: ClassVar[str] = "wnid"
    template = "a photo of a {}."
    lore_template = "This is a photo of a {}."

    def read_index(self) -> Index:
        wnids, names = read_classnames(self.require(self.dataset_dir / "classnames.txt"))
        image_dir = self.require(self.dataset_dir / self.image_subdir)
        present = sorted(e.name for e in os.scandir(image_dir) if e.is_dir() and e.name not in IGNORED)
        if self.folder_names == "index":
            wanted = [str(i) for i in range(len(wnids))]
            missing = [f for f in wanted if f not in set(present)]
            if missing:
                raise self.missing(image_dir / missing[0], f"not found ({len(missing)} of {len(wanted)} class folders missing)")
            folders, source = wanted, list(range(len(wnids)))
        else:
            position = {w: i for i, w in enumerate(wnids)}
            unknown = [f for f in present if f not in position]
            if unknown:
                raise self.missing(image_dir / unknown[0], "is not a WordNet id of classnames.txt")
            if not present:
                raise self.missing(image_dir / "n01440764", "not found (no class folders)")
            folders, source = present, [position[f] for f in present]
        paths, labels = [], []
        for label, folder in enumerate(folders):
            found = sorted(e.name for e in os.scandir(image_dir / folder) if e.name.lower().endswith(IMAGE_SUFFIXES))
            paths += [f"{folder}/{f}" for f in found]
            labels += [label] * len(found)
        self._source = source
        return Index([names[i] for i in source], image_dir, {"test": (paths, np.asarray(labels, dtype=np.int64))})

    def source_class_indices(self) -> list[int]:
        """Per label of this dataset, the ImageNet label it is."""
        self.index()
        return list(self._source)

    def load_split(self, split: str) -> ImageSplit:
        if split == "train":
            raise DatasetMissingError(f"{self.name} is an evaluation-only test set: it has no train split. "
                                      "Name it as a target (protocol cross_dataset / domain_generalization, "
                                      "key `targets`), with imagenet in `datasets:`.")
        return super().load_split(split)


def read_classnames(path) -> tuple[list[str], list[str]]:
    """ImageNet's ``classnames.txt``: WordNet ids and class names, in label order."""
    wnids, names = [], []
    for line in filter(str.strip, path.read_text().splitlines()):
        wnid, _, name = line.strip().partition(" ")
        wnids.append(wnid)
        names.append(name.strip() or wnid)
    return wnids, names


COPY_CLASSNAMES = "classnames.txt: a copy of imagenet/classnames.txt (CoOp's DATASETS.md, github.com/KaiyangZhou/CoOp)"


@DATASETS.register()
class ImageNetV2(ImageNetVariant):
    name = "imagenet_v2"
    description = "ImageNetV2 matched-frequency (test only), ImageNet's 1,000 classes"
    folder = "imagenetv2"
    image_subdir = "imagenetv2-matched-frequency-format-val"
    folder_names = "index"
    num_classes = 1000
    expected_counts = {"test": 10000}  # Recht et al., ICML 2019: 10 images per class
    layout = """imagenetv2/
  imagenetv2-matched-frequency-format-val/0/*.jpeg ... 999/*.jpeg   (folder i = ImageNet class i)
  classnames.txt"""
    source = ("imagenetv2-matched-frequency.tar.gz from github.com/modestyachts/ImageNetV2; " + COPY_CLASSNAMES)


@DATASETS.register()
class ImageNetSketch(ImageNetVariant):
    name = "imagenet_sketch"
    description = "ImageNet-Sketch (test only), ImageNet's 1,000 classes"
    folder = "imagenet-sketch"
    image_subdir = "images"
    num_classes = 1000
    expected_counts = {"test": 50889}  # Wang et al., NeurIPS 2019 (github.com/HaohanWang/ImageNet-Sketch)
    layout = """imagenet-sketch/
  images/n01440764/*.JPEG ...   (1,000 WordNet-id folders)
  classnames.txt"""
    source = "github.com/HaohanWang/ImageNet-Sketch; " + COPY_CLASSNAMES


@DATASETS.register()
class ImageNetA(ImageNetVariant):
    name = "imagenet_a"
    description = "ImageNet-A natural adversarial examples (test only), 200 of ImageNet's classes"
    folder = "imagenet-adversarial"
    image_subdir = "imagenet-a"
    num_classes = 200
    expected_counts = {"test": 7500}  # Hendrycks et al., CVPR 2021
    layout = """imagenet-adversarial/
  imagenet-a/n01498041/*.jpg ...   (200 WordNet-id folders; README.txt ignored)
  classnames.txt"""
    source = "github.com/hendrycks/natural-adv-examples; " + COPY_CLASSNAMES


@DATASETS.register()
class ImageNetR(ImageNetVariant):
    name = "imagenet_r"
    description = "ImageNet-R renditions (test only), 200 of ImageNet's classes"
    folder = "imagenet-rendition"
    image_subdir = "imagenet-r"
    num_classes = 200
    expected_counts = {"test": 30000}  # Hendrycks et al., ICCV 2021
    layout = """imagenet-rendition/
  imagenet-r/n01443537/*.jpg ...   (200 WordNet-id folders; README.txt ignored)
  classnames.txt"""
    source = "github.com/hendrycks/imagenet-r; " + COPY_CLASSNAMES
