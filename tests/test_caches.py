"""`lore-bench cache`: old cache entries (keys that changed with the weights, the
data or a format version are never read again) can be listed and pruned by last use."""
from __future__ import annotations

import os
import time

import numpy as np
import torch

from lore_bench.benchmarks.base import ImageSplit
from lore_bench.benchmarks.image_cache import cached_split
from lore_bench.cli import main


def test_prune_removes_only_entries_unused_for_n_days_and_a_read_counts_as_use(tmp_path, monkeypatch, capsys):
    from PIL import Image

    monkeypatch.setenv("LORE_BENCH_CACHE", str(tmp_path))
    img = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
    split = ImageSplit(keys=["a"], labels=np.array([0]), load=lambda i: img, origin="synthetic-zeros")
    cached_split(split, "toy", "train", 4)  # builds an image entry
    (tmp_path / "features").mkdir()
    old, fresh = tmp_path / "features" / "old.pt", tmp_path / "features" / "fresh.pt"
    torch.save(torch.zeros(1), old)
    torch.save(torch.zeros(1), fresh)
    month_ago = time.time() - 40 * 86400
    os.utime(old, (month_ago, month_ago))
    image_entry = next((tmp_path / "images").glob("*/meta.json"))
    os.utime(image_entry, (month_ago, month_ago))
    cached_split(split, "toy", "train", 4)  # a read: the image entry is in use again

    assert main(["cache", "info"]) == 0
    assert "features: 2 entries" in capsys.readouterr().out
    assert main(["cache", "prune", "--unused-days", "30"]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert not old.exists() and fresh.exists() and image_entry.exists()
    assert main(["cache", "prune", "--unused-days", "-1"]) == 2
    assert main(["cache", "prune", "--unused-days", "0"]) == 0
    assert not fresh.exists() and not image_entry.exists()
