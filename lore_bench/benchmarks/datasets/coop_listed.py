"""The four paper datasets that use CoOp's split files: Flowers102, Stanford
Cars, EuroSAT and UCF101 (middle frames). Train = CoOp train + val, test = CoOp
test (docs/paper/protocols.md); class names come from the split file."""
from __future__ import annotations

from typing import ClassVar

from ..base import DATASETS
from ..splits.coop_files import read_coop_split
from ..prepared import Index, PreparedDataset, clean_classname

COOP_DATASETS_DOC = "CoOp's DATASETS.md (github.com/KaiyangZhou/CoOp) links every split_zhou_*.json"


class CoopSplitDataset(PreparedDataset):
    split_file: ClassVar[str]
    #: folder (under dataset_dir) the split file's paths are relative to; "" = dataset_dir
    image_subdir: ClassVar[str] = ""
    #: CoOp renames some raw folder names (EuroSAT); applied if the file has raw names
    rename: ClassVar[dict[str, str]] = {}

    def read_index(self) -> Index:
        split_path = self.require(self.dataset_dir / self.split_file)
        image_dir = self.require(self.dataset_dir / self.image_subdir)
        names, items = read_coop_split(split_path, self.rename)
        return Index([clean_classname(n) for n in names], image_dir, items)


@DATASETS.register()
class Flowers102(CoopSplitDataset):
    name = "flowers102"
    description = "Oxford Flowers102, CoOp split (train = CoOp train + val)"
    folder = "oxford_flowers"
    split_file = "split_zhou_OxfordFlowers.json"
    image_subdir = "jpg"
    num_classes = 102
    expected_counts = {"train": 5726, "test": 2463}
    template = "a photo of a {}, a type of flower."
    lore_template = "a photo of a {}, a type of flower."
    layout = """oxford_flowers/
  jpg/image_00001.jpg ... image_08189.jpg     (102flowers.tgz)
  split_zhou_OxfordFlowers.json               (CoOp split file)"""
    source = ("images: the Oxford 102 Flowers page (robots.ox.ac.uk/~vgg/data/flowers/102/, 102flowers.tgz); "
              f"split file: {COOP_DATASETS_DOC}")


@DATASETS.register()
class StanfordCars(CoopSplitDataset):
    name = "stanford_cars"
    description = "Stanford Cars, CoOp split (train = CoOp train + val)"
    folder = "stanford_cars"
    split_file = "split_zhou_StanfordCars.json"
    num_classes = 196
    expected_counts = {"train": 8144, "test": 8041}
    template = "a photo of a {}."
    lore_template = "This is a photo of a {}."
    layout = """stanford_cars/
  cars_train/00001.jpg ...
  cars_test/00001.jpg ...
  split_zhou_StanfordCars.json                (CoOp split file; paths like cars_train/00001.jpg)"""
    source = f"images: the Stanford Cars release (cars_train.tgz, cars_test.tgz); split file: {COOP_DATASETS_DOC}"


@DATASETS.register()
class EuroSAT(CoopSplitDataset):
    name = "eurosat"
    description = "EuroSAT RGB, CoOp split (train = CoOp train + val)"
    folder = "eurosat"
    split_file = "split_zhou_EuroSAT.json"
    image_subdir = "2750"
    num_classes = 10
    expected_counts = {"train": 18900, "test": 8100}
    template = "a centered satellite photo of {}."
    lore_template = "a centered satellite photo of {}."
    # CoOp's descriptive names for the raw folder names
    rename = {
        "AnnualCrop": "Annual Crop Land", "Forest": "Forest", "HerbaceousVegetation": "Herbaceous Vegetation Land",
        "Highway": "Highway or Road", "Industrial": "Industrial Buildings", "Pasture": "Pasture Land",
        "PermanentCrop": "Permanent Crop Land", "Residential": "Residential Buildings", "River": "River",
        "SeaLake": "Sea or Lake",
    }
    layout = """eurosat/
  2750/AnnualCrop/AnnualCrop_1.jpg ...        (EuroSAT.zip, RGB version)
  split_zhou_EuroSAT.json                     (CoOp split file)"""
    source = f"images: the EuroSAT RGB release (EuroSAT.zip); split file: {COOP_DATASETS_DOC}"


@DATASETS.register()
class UCF101(CoopSplitDataset):
    name = "ucf101"
    description = "UCF101 middle frames, CoOp split (train = CoOp train + val)"
    folder = "ucf101"
    split_file = "split_zhou_UCF101.json"
    image_subdir = "UCF-101-midframes"
    num_classes = 101
    expected_counts = {"train": 9537, "test": 3783}
    template = "a photo of a person doing {}."
    lore_template = "a photo of a person doing {}."
    layout = """ucf101/
  UCF-101-midframes/Apply_Eye_Makeup/v_ApplyEyeMakeup_g01_c01.jpg ...   (one middle frame per video)
  split_zhou_UCF101.json                      (CoOp split file)"""
    source = f"middle frames (UCF-101-midframes.zip) and split file: {COOP_DATASETS_DOC}"
