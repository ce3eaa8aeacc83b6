"""The four datasets of CoOp's base-to-novel and cross-dataset tables that the
LORE paper does not use: Caltech101, Oxford Pets, Food101, SUN397.

CoOp's layouts and split files (KaiyangZhou/CoOp DATASETS.md and
``datasets/<name>.py``); train = CoOp train + val and test = CoOp test, as for
every CoOp-split dataset here (coop_listed.py); class names from the split
file (Caltech101's file already holds CoOp's renamed classes, e.g. "face").
Templates: CoOp ``trainers/zsclip.py`` CUSTOM_TEMPLATES. Counts: CoOp paper
(IJCV 2022) Table 7, train + val.
"""
from __future__ import annotations

from ..base import DATASETS
from .coop_listed import COOP_DATASETS_DOC, CoopSplitDataset


@DATASETS.register()
class Caltech101(CoopSplitDataset):
    name = "caltech101"
    description = "Caltech101 (CoOp split, BACKGROUND_Google and Faces_easy left out)"
    folder = "caltech-101"
    split_file = "split_zhou_Caltech101.json"
    image_subdir = "101_ObjectCategories"
    num_classes = 100
    expected_counts = {"train": 4128 + 1649, "test": 2465}
    layout = """caltech-101/
  101_ObjectCategories/accordion/image_0001.jpg ...
  split_zhou_Caltech101.json                  (CoOp split file)"""
    source = f"101_ObjectCategories.tar.gz from the Caltech101 page (data.caltech.edu); split file: {COOP_DATASETS_DOC}"


@DATASETS.register()
class OxfordPets(CoopSplitDataset):
    name = "oxford_pets"
    description = "Oxford-IIIT Pets (CoOp split)"
    folder = "oxford_pets"
    split_file = "split_zhou_OxfordPets.json"
    image_subdir = "images"
    num_classes = 37
    expected_counts = {"train": 2944 + 736, "test": 3669}
    template = "a photo of a {}, a type of pet."
    lore_template = "a photo of a {}, a type of pet."
    layout = """oxford_pets/
  images/Abyssinian_1.jpg ...
  split_zhou_OxfordPets.json                  (CoOp split file)"""
    source = f"images.tar.gz from robots.ox.ac.uk/~vgg/data/pets/; split file: {COOP_DATASETS_DOC}"


@DATASETS.register()
class Food101(CoopSplitDataset):
    name = "food101"
    description = "Food-101 (CoOp split)"
    folder = "food-101"
    split_file = "split_zhou_Food101.json"
    image_subdir = "images"
    num_classes = 101
    expected_counts = {"train": 50500 + 20200, "test": 30300}
    template = "a photo of {}, a type of food."
    lore_template = "a photo of {}, a type of food."
    layout = """food-101/
  images/apple_pie/1005649.jpg ...
  split_zhou_Food101.json                     (CoOp split file)"""
    source = f"food-101.tar.gz from data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/; split file: {COOP_DATASETS_DOC}"


@DATASETS.register()
class SUN397(CoopSplitDataset):
    name = "sun397"
    description = "SUN397 (CoOp split)"
    folder = "sun397"
    split_file = "split_zhou_SUN397.json"
    image_subdir = "SUN397"
    num_classes = 397
    expected_counts = {"train": 15880 + 3970, "test": 19850}
    layout = """sun397/
  SUN397/a/abbey/sun_aaalbzqrimafwbiv.jpg ...
  split_zhou_SUN397.json                      (CoOp split file)"""
    source = f"SUN397.tar.gz from vision.princeton.edu/projects/2010/SUN/; split file: {COOP_DATASETS_DOC}"
