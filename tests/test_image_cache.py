"""Decoded-image cache: same images, built once, atomic, keyed correctly."""
import os
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


def _root(tmp_path, name, pixels):
    """A data root with the jpegs fixture's file names and labels, filled by ``pixels(i, size)``."""
    rels = [f"c{i % 2}/{i}.jpg" for i in range(6)]
    for i, rel in enumerate(rels):
        (tmp_path / name / rel).parent.mkdir(parents=True, exist_ok=True)
        pixels(i, tmp_path / name / rel)
    return file_split(tmp_path / name, rels, [i % 2 for i in range(6)])


def _solid(value):
    def write(i, path):
        Image.fromarray(np.full((30, 40 + 10 * i, 3), (value + 20 * i) % 256, dtype=np.uint8)).save(path)
    return write


def test_another_root_with_other_images_is_read_not_served_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    first = cached_split(_root(tmp_path, "a", _solid(10)), "toy", "test", 16, root=cache)
    other = _root(tmp_path, "b", _solid(200))  # same names and labels, other pixels
    served = cached_split(other, "toy", "test", 16, root=cache)
    for i in range(len(other)):
        assert np.array_equal(np.asarray(served.load(i)), resize_center_crop(other.load(i), 16))
        assert not np.array_equal(np.asarray(served.load(i)), np.asarray(first.load(i)))


def test_a_root_of_garbage_files_fails_instead_of_running_on_cached_images(tmp_path):
    cache = tmp_path / "cache"
    cached_split(_root(tmp_path, "a", _solid(10)), "toy", "test", 16, root=cache)
    garbage = _root(tmp_path, "b", lambda i, path: path.write_bytes(b"not an image " * (i + 1)))
    from lore_bench.benchmarks.base import DataFileError

    # PIL cannot identify the files: the trial fails naming the file, it does not score "ok"
    with pytest.raises(DataFileError, match="cannot decode .*0.jpg"):
        cached_split(garbage, "toy", "test", 16, root=cache)


def test_a_file_rewritten_in_place_gives_a_new_entry(tmp_path):
    cache = tmp_path / "cache"
    split = _root(tmp_path, "a", _solid(10))
    cached_split(split, "toy", "test", 16, root=cache)
    path = tmp_path / "a" / split.keys[3]
    Image.fromarray(np.full((30, 70, 3), 255, dtype=np.uint8)).save(path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # a later write, whatever the clock
    again = cached_split(split, "toy", "test", 16, root=cache)
    assert np.array_equal(np.asarray(again.load(3)), resize_center_crop(split.load(3), 16))


def test_a_split_without_pixel_identity_is_served_uncached(jpegs, tmp_path):
    anonymous = ImageSplit(jpegs.keys, jpegs.labels, jpegs.load)  # a loader the cache cannot see behind
    assert cached_split(anonymous, "toy", "train", 16, root=tmp_path) is anonymous
    assert not cache_root(tmp_path).exists() or not any(cache_root(tmp_path).iterdir())


def test_array_splits_are_named_by_their_pixels():
    from lore_bench.benchmarks.base import array_split
    from lore_bench.benchmarks.image_cache import content_fingerprint

    images = np.zeros((4, 8, 8), dtype=np.uint8)
    a = content_fingerprint(array_split("src", images, np.arange(4)))
    images[2, 3, 3] = 1
    b = content_fingerprint(array_split("src", images, np.arange(4)))
    assert a and b and a != b
