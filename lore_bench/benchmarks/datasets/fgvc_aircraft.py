"""FGVC Aircraft, variant level (100 classes). CoOp's split is the official one:
train = images_variant_train + images_variant_val (6,667), test = images_variant_test."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..base import DATASETS
from ..prepared import Index, PreparedDataset

LISTS = {"train": ("images_variant_train.txt", "images_variant_val.txt"), "test": ("images_variant_test.txt",)}


@DATASETS.register()
class FGVCAircraft(PreparedDataset):
    name = "fgvc_aircraft"
    description = "FGVC Aircraft 2013b, 100 variants, official train+val / test"
    folder = "fgvc_aircraft"
    num_classes = 100
    expected_counts = {"train": 6667, "test": 3333}
    template = "a photo of a {}, a type of aircraft."
    lore_template = "a photo of a {}, a type of aircraft."
    layout = """fgvc_aircraft/
  images/1025794.jpg ...
  variants.txt, images_variant_train.txt, images_variant_val.txt, images_variant_test.txt
(or the archive extracted as is: fgvc_aircraft/fgvc-aircraft-2013b/data/...)"""
    source = "fgvc-aircraft-2013b.tar.gz from the FGVC Aircraft page (robots.ox.ac.uk/~vgg/data/fgvc-aircraft/)"

    def data_dir(self) -> Path:
        extracted = self.dataset_dir / "fgvc-aircraft-2013b" / "data"
        return extracted if extracted.is_dir() else self.dataset_dir

    def read_index(self) -> Index:
        data = self.data_dir()
        variants = [l.strip() for l in self.require(data / "variants.txt").read_text().splitlines() if l.strip()]
        label_of = {v: i for i, v in enumerate(variants)}
        items = {}
        for split, files in LISTS.items():
            paths, labels = [], []
            for name in files:
                for line in self.require(data / name).read_text().splitlines():
                    if not line.strip():
                        continue
                    image_id, variant = line.strip().split(" ", 1)  # variant names contain spaces
                    if variant not in label_of:
                        raise self.missing(data / "variants.txt", f"does not list the variant '{variant}' of {name}")
                    paths.append(f"{image_id}.jpg")
                    labels.append(label_of[variant])
            items[split] = (paths, np.asarray(labels, dtype=np.int64))
        return Index(variants, self.require(data / "images"), items)
