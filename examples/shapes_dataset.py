"""Example plugin (docs/plugins.md): a dataset, generated 32 x 32 shapes.

Three classes (filled squares, discs, crosses) at random sizes, positions and
grey levels on a noisy background; fixed seeds per split, so every process
generates the same images. A dataset is found through the entry-point group
``lore_bench.datasets`` of an installed package (pyproject.toml:
``[project.entry-points."lore_bench.datasets"] shapes = "shapes_dataset:Shapes"``).
"""
from __future__ import annotations

import numpy as np

from lore_bench.benchmarks import Dataset
from lore_bench.benchmarks.base import array_split


class Shapes(Dataset):
    name = "shapes"
    classnames = ["square", "disc", "cross"]
    template = "a photo of a {}."
    description = "generated 32x32 squares, discs and crosses (example plugin)"
    embedded = True  # generated in memory: no files, no `data doctor`

    def load_split(self, split: str):
        rng = np.random.default_rng({"train": 0, "test": 1}[split])
        n = 60 if split == "train" else 30
        labels = np.arange(n) % len(self.classnames)
        yy, xx = np.mgrid[:32, :32]
        images = rng.integers(0, 40, size=(n, 32, 32, 3)).astype(np.uint8)
        for i, label in enumerate(labels):
            r = int(rng.integers(5, 10))
            cy, cx = rng.integers(r, 32 - r, size=2)
            dy, dx = np.abs(yy - cy), np.abs(xx - cx)
            mask = [(dy <= r) & (dx <= r), dy**2 + dx**2 <= r * r,
                    ((dy <= r) & (dx <= 1)) | ((dx <= r) & (dy <= 1))][label]
            images[i][mask] = int(rng.integers(160, 256))
        return array_split(f"{self.name}-{split}", images, labels)
