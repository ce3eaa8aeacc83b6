"""The transfer protocols' datasets through their real loaders, from tiny
fixtures in CoOp's layouts: CoOp's four other split-file datasets and
ImageNet-V2 / -Sketch / -A / -R (test only, labels mapped to ImageNet's)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from fixtures.transfer_datasets import MAKERS, WNIDS
from lore_bench.benchmarks import DatasetMissingError, get_dataset
from lore_bench.benchmarks.class_maps import shares_classes, source_columns
from lore_bench.benchmarks.doctor import doctor_all

VARIANTS = ["imagenet_v2", "imagenet_sketch", "imagenet_a", "imagenet_r"]
COOP_SETS = ["caltech101", "oxford_pets", "food101", "sun397"]


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fixtures are smaller than the published counts
        return fn()


@pytest.mark.parametrize("name", COOP_SETS)
def test_coop_split_sets_load(name, tmp_path):
    expected = MAKERS[name](tmp_path)
    ds = get_dataset(name, tmp_path)
    train, test = _quiet(lambda: (ds.load_split("train"), ds.load_split("test")))
    assert ds.classnames == expected["classnames"] and (len(train), len(test)) == (expected["train"], expected["test"])
    assert train.load(0).mode == "RGB" and ds.doctor().status == "found"


@pytest.mark.parametrize("name", VARIANTS)
def test_imagenet_variant_loads_test_only_with_imagenet_labels(name, tmp_path):
    expected = MAKERS[name](tmp_path)
    ds = get_dataset(name, tmp_path)
    test = _quiet(lambda: ds.load_split("test"))
    assert ds.classnames == expected["classnames"] and len(test) == expected["test"]
    assert set(np.unique(test.labels)) == set(range(len(ds.classnames)))
    assert ds.source_class_indices() == expected["source"]
    assert test.load(len(test) - 1).mode == "RGB"
    with pytest.raises(DatasetMissingError, match="evaluation-only"):
        ds.load_split("train")
    [report] = doctor_all([name], root=tmp_path)
    assert report.status == "found" and report.counts == {"test": expected["test"]}


def test_imagenet_a_labels_follow_sorted_folders_and_map_to_imagenet(tmp_path):
    MAKERS["imagenet_a"](tmp_path)
    ds = get_dataset("imagenet_a", tmp_path)
    test = _quiet(lambda: ds.load_split("test"))
    # n01443537 (goldfish, ImageNet 1) sorts before n01491361 (tiger shark, ImageNet 3)
    assert [k.split("/")[0] for k in test.keys[:1]] == ["n01443537"] and list(test.labels[:3]) == [0, 0, 0]

    class Source:  # what the transfer protocol hands source_columns
        name, classnames = "imagenet", [n for _, n in WNIDS]

    assert source_columns(Source, ds) == [1, 3]
    assert shares_classes("imagenet", "imagenet_a") and not shares_classes("imagenet", "dtd")
    assert shares_classes("sklearn_digits", "mnist") and not shares_classes("sklearn_digits", "textures")


@pytest.mark.parametrize("name", VARIANTS)
def test_missing_variant_says_where_and_how(name, tmp_path):
    [report] = doctor_all([name], root=tmp_path)
    assert report.status == "missing" and get_dataset(name).layout.splitlines()[0] in report.detail
    folder = get_dataset(name).folder
    (tmp_path / folder).mkdir()
    [report] = doctor_all([name], root=tmp_path)
    assert report.status == "partial" and "classnames.txt" in report.detail


def test_a_folder_that_is_no_wordnet_id_is_named(tmp_path):
    MAKERS["imagenet_r"](tmp_path)
    (tmp_path / "imagenet-rendition" / "imagenet-r" / "n99999999").mkdir()
    [report] = doctor_all(["imagenet_r"], root=tmp_path)
    assert report.status == "partial" and "n99999999" in report.detail


@pytest.mark.parametrize("name", VARIANTS + COOP_SETS)
def test_docs_show_the_layout_the_loader_expects(name):
    doc = (Path(__file__).resolve().parent.parent / "docs" / "datasets.md").read_text()
    ds = get_dataset(name)
    assert f"`{name}`" in doc and f"{ds.folder}/" in doc
    for line in ds.layout.splitlines():
        entry = line.strip().split("(")[0].strip()
        if entry:
            assert entry in doc, f"docs/datasets.md lacks '{entry}' of {name}"
