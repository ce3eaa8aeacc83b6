"""A third-party dataset, as a user would write it outside lore-bench: generated
32x32 images of horizontal or vertical stripes, 2 classes, a fixed split."""
from __future__ import annotations

import numpy as np

from lore_bench.benchmarks import Dataset
from lore_bench.benchmarks.base import array_split


class Stripes(Dataset):
    name = "lb_stripes"
    classnames = ["horizontal stripes", "vertical stripes"]
    template = "a photo of {}."
    description = "generated stripes, 2 classes (test plugin)"
    embedded = True

    def load_split(self, split: str):
        rng = np.random.default_rng(0 if split == "train" else 1)
        n = 40 if split == "train" else 20
        labels = np.arange(n) % 2
        period = rng.integers(3, 7, size=n)
        ramp = np.arange(32)
        images = np.zeros((n, 32, 32, 3), dtype=np.uint8)
        for i in range(n):
            line = ((ramp // period[i]) % 2 * 255).astype(np.uint8)
            images[i] = (line[:, None] if labels[i] == 0 else line[None, :])[..., None]
        return array_split(f"{self.name}-{split}", images, labels)
