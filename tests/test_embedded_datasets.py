"""The datasets that ship offline: counts, labels, RGB images, and a split that
is the same in every process."""
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lore_bench.benchmarks import DatasetMissingError, get_dataset
from lore_bench.benchmarks.datasets import fashion_mnist

EXPECTED = {  # name: (pool size, classes)
    "sklearn_digits": (1797, 10),
    "mnist": (5000, 10),
    "textile_defects": (2000, 3),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_labels_and_rgb(name):
    total, n_classes = EXPECTED[name]
    ds = get_dataset(name)
    assert ds.embedded and len(ds.classnames) == n_classes
    train, test = ds.load_split("train"), ds.load_split("test")
    assert len(train) + len(test) == total
    assert abs(len(train) - len(test)) <= n_classes  # 50/50 per class
    assert not set(train.keys) & set(test.keys)
    for split in (train, test):
        assert split.labels.min() == 0 and split.labels.max() == n_classes - 1
        img = split.load(len(split) - 1)
        assert img.mode == "RGB" and min(img.size) >= 28
    # stratified: every class is split about in half
    tr, te = np.bincount(train.labels), np.bincount(test.labels)
    assert np.all(np.abs(tr - te) <= 1)


def test_fixed_names_and_templates():
    assert get_dataset("sklearn_digits").classnames == [str(i) for i in range(10)]
    assert get_dataset("mnist").template == "a photo of the digit {}."
    textile = get_dataset("textile_defects")
    assert textile.classnames == ["nominal", "local defect", "global defect"]
    assert textile.template == "a photo of a {} textile."


def test_digits_are_bright_on_black_and_upsampled():
    img = np.asarray(get_dataset("sklearn_digits").load_split("train").load(0))
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    assert img[0, 0].max() < 64 and img.max() > 128  # dark border, bright ink


def test_digits_read_without_sklearn_equal_its_loader():
    """The digits come from scikit-learn's shipped file without importing
    scikit-learn (a second per Ray worker); they must be what load_digits gives."""
    from sklearn.datasets import load_digits

    from lore_bench.benchmarks.datasets.sklearn_digits import raw_digits, shipped_digits_file

    assert shipped_digits_file() is not None  # else the fast path is never taken
    images, target = raw_digits()
    reference = load_digits()
    np.testing.assert_array_equal(images, reference.images)
    np.testing.assert_array_equal(target, reference.target)
    probe = ("import sys; from lore_bench.benchmarks.datasets.sklearn_digits import raw_digits; raw_digits(); "
             "print('sklearn' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


_SPLIT_SCRIPT = (
    "import json; from lore_bench.benchmarks import get_dataset;"
    "import sys; names = sys.argv[1:];"
    "print(json.dumps({n: get_dataset(n).load_split('train').keys[:50] for n in names}))"
)


def test_split_identical_across_processes():
    names = sorted(EXPECTED)
    here = {n: get_dataset(n).load_split("train").keys[:50] for n in names}
    for seed in ("12345",):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", _SPLIT_SCRIPT, *names],
            env=env, capture_output=True, text=True, check=True,
        ).stdout
        assert json.loads(out) == here


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_from_data_root(tmp_path, monkeypatch):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 5)):
        images_file, labels_file = fashion_mnist.FILES[split]
        _write_idx(folder / images_file, rng.integers(0, 255, (n, 28, 28)))
        _write_idx(folder / labels_file, np.arange(n) % 10)
    ds = get_dataset("fashion_mnist", root=tmp_path)
    train = ds.load_split("train")
    assert len(train) == 12 and len(ds.load_split("test")) == 5
    assert train.labels.tolist()[:3] == [0, 1, 2] and train.load(0).mode == "RGB"


def test_fashion_mnist_missing_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "nowhere")
    with pytest.raises(DatasetMissingError, match="apt-get install dataset-fashion-mnist"):
        get_dataset("fashion_mnist", root=tmp_path).load_split("train")
    assert get_dataset("fashion_mnist", root=tmp_path).doctor().status == "missing"


@pytest.mark.skipif(not fashion_mnist.SYSTEM_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_system_package(tmp_path):
    ds = get_dataset("fashion_mnist", root=tmp_path)
    assert len(ds.load_split("train")) == 60000 and len(ds.load_split("test")) == 10000
