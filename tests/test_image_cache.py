"""Decoded-image cache: same images, built once, atomic, keyed correctly."""
import pickle
import threading

import numpy as np
import pytest
from PIL import Image

from lore_bench.benchmarks.base import ImageSplit
from lore_bench.benchmarks.image_cache import cache_root, cached_split, resize_center_crop
from lore_bench.benchmarks.splits.hashed import file_split


@pytest.fixture
def jpegs(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        rel = f"c{i % 2}/{i}.jpg"
        (tmp_path / "img" / rel).parent.mkdir(parents=True, exist_ok=True)
        size = (40 + 10 * i, 30)  # landscape and portrait, odd sizes
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(tmp_path / "img" / rel)
        paths.append(rel)
    return file_split(tmp_path / "img", paths, [i % 2 for i in range(6)])


def _counting(split):
    calls = []

    def load(i):
        calls.append(i)
        return split.load(i)

    return ImageSplit(split.keys, split.labels, load, files=split.files), calls


def test_cached_images_equal_resized_originals(jpegs, tmp_path):
    cached = cached_split(jpegs, "toy", "train", 16, root=tmp_path / "cache")
    assert cached.keys == jpegs.keys and cached.labels.tolist() == jpegs.labels.tolist()
    for i in range(len(jpegs)):
        got = np.asarray(cached.load(i))
        assert got.shape == (16, 16, 3)
        assert np.array_equal(got, resize_center_crop(jpegs.load(i), 16))
    sub = cached.subset([4, 1])
    assert np.array_equal(np.asarray(sub.load(0)), np.asarray(cached.load(4)))


def test_built_once_and_atomically(jpegs, tmp_path):
    counting, calls = _counting(jpegs)
    cached_split(counting, "toy", "train", 16, root=tmp_path)
    assert len(calls) == len(jpegs)
    cached_split(counting, "toy", "train", 16, root=tmp_path)
    assert len(calls) == len(jpegs)  # second trial: no decoding
    entries = [p.name for p in cache_root(tmp_path).iterdir() if not p.name.endswith(".lock")]
    assert len(entries) == 1 and ".tmp-" not in entries[0]


def test_key_changes_with_size_version_and_items(jpegs, tmp_path):
    counting, calls = _counting(jpegs)
    cached_split(counting, "toy", "train", 16, root=tmp_path)
    cached_split(counting, "toy", "train", 24, root=tmp_path)
    cached_split(counting, "toy", "train", 16, data_version="v2", root=tmp_path)
    cached_split(counting.subset([0, 1, 2]), "toy", "train", 16, root=tmp_path)
    assert len(calls) == 3 * len(jpegs) + 3


def test_failed_build_leaves_nothing(jpegs, tmp_path):
    def broken(i):
        if i == 3:
            raise OSError("truncated JPEG")
        return jpegs.load(i)

    with pytest.raises(OSError):
        cached_split(ImageSplit(jpegs.keys, jpegs.labels, broken, files=jpegs.files), "toy", "train", 16, root=tmp_path)
    assert [p for p in cache_root(tmp_path).iterdir() if not p.name.endswith(".lock")] == []


def test_concurrent_trials_build_once(jpegs, tmp_path):
    counting, calls = _counting(jpegs)
    threads = [threading.Thread(target=cached_split, args=(counting, "toy", "test", 16), kwargs={"root": tmp_path})
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == len(jpegs)


def test_loader_pickles_without_pixels(jpegs, tmp_path, monkeypatch):
    monkeypatch.setenv("LORE_BENCH_CACHE", str(tmp_path / "env_cache"))
    cached = cached_split(jpegs, "toy", "train", 16)
    assert (tmp_path / "env_cache" / "images").is_dir()
    cached.load(0)
    blob = pickle.dumps(cached.load)
    assert len(blob) < 1000
    assert np.array_equal(np.asarray(pickle.loads(blob)(2)), np.asarray(cached.load(2)))
