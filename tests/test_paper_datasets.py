"""The 12 classification datasets of the LORE paper, loaded through their real
loaders from tiny fixtures in the real on-disk layouts."""
import json
import os
import random
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from lore_bench.benchmarks import DatasetMissingError, get_dataset
from lore_bench.benchmarks.doctor import doctor_all, format_reports
from lore_bench.benchmarks.sampling.few_shot import sample_few_shot
from lore_bench.benchmarks.prepared import CountMismatchWarning

from fixtures.paper_datasets import MAKERS  # noqa: E402

PAPER_DATASETS = ["flowers102", "stanford_cars", "fgvc_aircraft", "stanford_dogs", "cifar10", "cifar100",
                  "dtd", "imagenet", "eurosat", "resisc45", "ucf101", "patternnet"]
LORE_TEMPLATES = {
    "cifar10": "This is a photo of a {}.", "cifar100": "This is a photo of a {}.",
    "stanford_cars": "This is a photo of a {}.", "dtd": "This is a photo of a {}.",
    "imagenet": "This is a photo of a {}.", "stanford_dogs": "This is a photo of a {}, a type of dog.",
    "fgvc_aircraft": "a photo of a {}, a type of aircraft.", "flowers102": "a photo of a {}, a type of flower.",
    "eurosat": "a centered satellite photo of {}.", "resisc45": "aerial imagery of a {}.",
    "patternnet": "aerial imagery of a {}.", "ucf101": "a photo of a person doing {}.",
}


def test_every_paper_dataset_has_a_fixture_and_templates():
    assert sorted(MAKERS) == sorted(PAPER_DATASETS)
    for name in PAPER_DATASETS:
        ds = get_dataset(name)
        assert ds.lore_template == LORE_TEMPLATES[name]
        assert "{}" in ds.template
    assert get_dataset("dtd").template == "{} texture."
    assert get_dataset("ucf101").template == "a photo of a person doing {}."


@pytest.mark.parametrize("name", PAPER_DATASETS)
def test_fixture_loads_through_real_loader(name, tmp_path):
    expected = MAKERS[name](tmp_path)
    ds = get_dataset(name, root=tmp_path)
    with pytest.warns(CountMismatchWarning):  # a fixture is smaller than the paper's table
        train, test = ds.load_split("train"), ds.load_split("test")
    assert ds.classnames == expected["classnames"]
    assert (len(train), len(test)) == (expected["train"], expected["test"])
    assert set(np.unique(train.labels)) == set(range(len(ds.classnames)))
    assert len(set(train.keys)) == len(train) and not set(train.keys) & set(test.keys)
    for split in (train, test):
        img = split.load(len(split) - 1)
        assert img.mode == "RGB" and img.size[0] > 0
    report = ds.doctor()
    assert report.status == "found" and report.counts == {"train": len(train), "test": len(test)}
    assert "paper's table" in report.detail  # counts differ: a warning, not a failure


@pytest.mark.parametrize("name", PAPER_DATASETS)
def test_missing_dataset_says_where_and_how(name, tmp_path):
    ds = get_dataset(name, root=tmp_path)
    with pytest.raises(DatasetMissingError) as err:
        ds.load_split("train")
    text = str(err.value)
    assert text.startswith(name) and "LORE_BENCH_DATA" in text and "data_root" in text
    assert ds.folder + "/" in text and "Where to get it" in text
    assert ds.doctor().status == "missing"


@pytest.mark.parametrize("name,piece", [
    ("stanford_cars", "split_zhou_StanfordCars.json"),
    ("flowers102", "split_zhou_OxfordFlowers.json"),
    ("eurosat", "split_zhou_EuroSAT.json"),
    ("ucf101", "split_zhou_UCF101.json"),
    ("dtd", "labels/val1.txt"),
    ("resisc45", "test.txt"),
    ("stanford_dogs", "test_list.mat"),
    ("imagenet", "classnames.txt"),
    ("cifar10", "cifar-10-batches-py/test_batch"),
])
def test_missing_split_file_is_named_never_invented(name, piece, tmp_path):
    MAKERS[name](tmp_path)
    (get_dataset(name, root=tmp_path).dataset_dir / piece).unlink()
    ds = get_dataset(name, root=tmp_path)
    with pytest.raises(DatasetMissingError, match=Path(piece).name):
        ds.load_split("train")
    report = ds.doctor()
    assert report.status == "partial" and Path(piece).name in report.detail


def test_missing_images_make_doctor_partial(tmp_path):
    MAKERS["dtd"](tmp_path)
    (tmp_path / "dtd" / "images" / "banded" / "banded_0003.jpg").unlink()
    report = get_dataset("dtd", root=tmp_path).doctor()
    assert report.status == "partial" and "1 of 6 test images missing" in report.detail


def test_malformed_coop_split_file(tmp_path):
    MAKERS["flowers102"](tmp_path)
    split_file = tmp_path / "oxford_flowers" / "split_zhou_OxfordFlowers.json"
    data = json.loads(split_file.read_text())
    data["val"][0][1] = 2  # label 2 now has two names
    split_file.write_text(json.dumps(data))
    with pytest.raises(DatasetMissingError, match="label 2"):
        get_dataset("flowers102", root=tmp_path).load_split("train")


def test_fgvc_flattened_layout(tmp_path):
    """CoOp's layout: the archive's data/ folder moved up to fgvc_aircraft/."""
    MAKERS["fgvc_aircraft"](tmp_path)
    data = tmp_path / "fgvc_aircraft" / "fgvc-aircraft-2013b" / "data"
    for entry in data.iterdir():
        entry.rename(tmp_path / "fgvc_aircraft" / entry.name)
    data.rmdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CountMismatchWarning)
        assert len(get_dataset("fgvc_aircraft", root=tmp_path).load_split("train")) == 9


def test_doctor_all_and_formatter(tmp_path):
    MAKERS["cifar10"](tmp_path)
    reports = doctor_all(["cifar10", "dtd"], root=tmp_path)
    assert [(r.name, r.status) for r in reports] == [("cifar10", "found"), ("dtd", "missing")]
    text = format_reports(reports, root=tmp_path)
    assert "cifar10" in text and "train=20" in text and "dtd (missing)" in text and "1 found" in text


# -- the few-shot sample is a function of the data, not of the process or the disk --

_SAMPLE = """
import json, sys, warnings
warnings.simplefilter("ignore")
from lore_bench.benchmarks import get_dataset
from lore_bench.benchmarks.sampling.few_shot import sample_few_shot
out = {}
for name in sys.argv[2:]:
    split = get_dataset(name, root=sys.argv[1]).load_split("train")
    out[name] = [split.keys[i] for i in sample_few_shot(split, name, "train", 2, 3)]
print(json.dumps(out))
"""


def _sampled_keys(name, root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CountMismatchWarning)
        split = get_dataset(name, root=root).load_split("train")
    return [split.keys[i] for i in sample_few_shot(split, name, "train", 2, 3)]


def test_sample_identical_across_processes(tmp_path):
    names = ["imagenet", "stanford_cars", "cifar100", "sklearn_digits"]
    for name in names:
        if name in MAKERS:
            MAKERS[name](tmp_path)
    here = {name: _sampled_keys(name, tmp_path) for name in names}
    out = subprocess.run([sys.executable, "-c", _SAMPLE, str(tmp_path), *names], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONHASHSEED": "4242"}).stdout
    assert json.loads(out) == here


def test_sample_independent_of_directory_listing_order(tmp_path, monkeypatch):
    MAKERS["imagenet"](tmp_path)
    reference = _sampled_keys("imagenet", tmp_path)
    real_scandir = os.scandir

    def shuffled_scandir(path):
        entries = list(real_scandir(path))
        random.Random(7).shuffle(entries)
        entries.reverse()
        return iter(entries)

    monkeypatch.setattr(os, "scandir", shuffled_scandir)
    assert _sampled_keys("imagenet", tmp_path) == reference


def test_textile_pool_independent_of_glob_order(monkeypatch):
    reference = get_dataset("textile_defects").load_split("train").keys
    real_glob = Path.glob
    monkeypatch.setattr(Path, "glob", lambda self, pattern: reversed(list(real_glob(self, pattern))))
    assert get_dataset("textile_defects").load_split("train").keys == reference


@pytest.mark.parametrize("name", PAPER_DATASETS)
def test_docs_show_the_layout_the_loader_expects(name):
    doc = (Path(__file__).resolve().parent.parent / "docs" / "datasets.md").read_text()
    ds = get_dataset(name)
    assert f"`{name}`" in doc and f"{ds.folder}/" in doc
    for line in ds.layout.splitlines():
        entry = line.strip().split("(")[0].strip()
        if entry and not line.startswith("("):
            assert entry in doc, f"docs/datasets.md lacks '{entry}' of {name}"
