"""Locality diagnostic: the class is a small outlined motif somewhere in clutter.

Each 32x32 image holds one motif (cross, ring, square or triangle outline,
6-8 px, 1 px pen) at a random position among 8-14 distractors (dots, strokes,
blobs, arcs, filled squares) drawn from the same distribution for every class,
over a noisy background. A global image feature is dominated by the clutter;
the evidence for the class is a handful of patches. This is the situation in
which LORE argues that global ViT features fall short.

Images are a pure function of (split, index): each split has its own seed.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from ..base import DATASETS, Dataset, ImageSplit, array_split
from ..pool_cache import cached_pool

CANVAS, OUT = 64, 32  # drawn at 64 px, reduced to 32 px (anti-aliasing)
PER_CLASS = {"train": 300, "test": 150}
SEEDS = {"train": 1001, "test": 2002}
STREAM_TAG = 0x6C6F6361  # "loca": no other generator in lore-bench uses this word
PALETTE = np.array([
    (220, 40, 40), (40, 170, 60), (40, 70, 220), (235, 215, 40), (245, 140, 30), (140, 50, 180),
    (240, 130, 190), (245, 245, 245), (15, 15, 15), (130, 80, 40), (40, 200, 220),
], dtype=np.float32)


def _luma(rgb) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)) / 255.0


def _motif(draw: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float) -> None:
    if kind == "cross":
        draw.line([cx - r, cy, cx + r, cy], fill=255, width=2)
        draw.line([cx, cy - r, cx, cy + r], fill=255, width=2)
    elif kind == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=255, width=2)
    elif kind == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], outline=255, width=2)
    elif kind == "triangle":
        pts = [(cx + r * math.cos(math.radians(a)), cy + r * 1.1 * math.sin(math.radians(a))) for a in (-90, 30, 150)]
        draw.line(pts + pts[:1], fill=255, width=2, joint="curve")
    else:
        raise ValueError(kind)


def _distractor(rng, draw: ImageDraw.ImageDraw, x: float, y: float) -> None:
    kind = int(rng.integers(5))
    s = rng.uniform(3, 8)
    if kind == 0:
        draw.ellipse([x - s / 2, y - s / 2, x + s / 2, y + s / 2], fill=255)
    elif kind == 1:
        a = rng.uniform(0, math.pi)
        draw.line([x, y, x + 1.6 * s * math.cos(a), y + 1.6 * s * math.sin(a)], fill=255, width=2)
    elif kind == 2:
        draw.polygon([(x + rng.uniform(-s, s), y + rng.uniform(-s, s)) for _ in range(5)], fill=255)
    elif kind == 3:
        a0 = rng.uniform(0, 360)
        draw.arc([x - s, y - s, x + s, y + s], a0, a0 + rng.uniform(60, 150), fill=255, width=2)
    else:
        draw.rectangle([x - s / 2, y - s / 2, x + s / 2, y + s / 2], fill=255)


def render(rng: np.random.Generator, kind: str) -> np.ndarray:
    """One uint8 [32, 32, 3] image whose class is ``kind``."""
    bg = PALETTE[rng.integers(len(PALETTE))]
    img = np.broadcast_to(bg, (CANVAS, CANVAS, 3)) + rng.normal(0, 12, (CANVAS, CANVAS, 1))
    visible = [c for c in PALETTE if abs(_luma(c) - _luma(bg)) > 0.25]
    r = rng.uniform(6, 8)  # motif radius in canvas px: 6-8 px wide at 32 px
    mx, my = rng.uniform(r + 3, CANVAS - r - 3, 2)
    layers = []
    for _ in range(int(rng.integers(8, 15))):
        while True:  # keep distractors off the motif so it stays readable
            x, y = rng.uniform(2, CANVAS - 2, 2)
            if math.hypot(x - mx, y - my) > r + 7:
                break
        mask = Image.new("L", (CANVAS, CANVAS), 0)
        _distractor(rng, ImageDraw.Draw(mask), x, y)
        layers.append((mask, visible[rng.integers(len(visible))]))
    mask = Image.new("L", (CANVAS, CANVAS), 0)
    _motif(ImageDraw.Draw(mask), kind, mx, my, r)
    layers.append((mask, visible[rng.integers(len(visible))]))
    for mask, colour in layers:
        a = np.asarray(mask, dtype=np.float32)[..., None] / 255.0
        img = img * (1 - a) + a * colour
    small = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).resize((OUT, OUT), Image.BOX)
    return np.asarray(small)


@lru_cache(maxsize=2)
def _generate(split: str) -> tuple[np.ndarray, np.ndarray]:
    # Drawing takes ~1.5 s a split per process; the pixels depend on this module's code and Pillow's drawing.
    import PIL

    return cached_pool(f"locality-{split}", lambda: _draw(split), extra=(f"Pillow {PIL.__version__}",))


def _draw(split: str) -> tuple[np.ndarray, np.ndarray]:
    n = PER_CLASS[split] * len(Locality.classnames)
    labels = np.arange(n) % len(Locality.classnames)
    images = np.stack([
        render(np.random.default_rng([STREAM_TAG, SEEDS[split], i]), Locality.classnames[labels[i]]) for i in range(n)
    ])
    return images, labels


@DATASETS.register()
class Locality(Dataset):
    name = "locality"
    classnames = ["cross", "ring", "square", "triangle"]
    template = "a photo of a small {} among clutter."
    lore_template = "This is a photo of a small {} among clutter."
    description = "generated: a 6-8 px outlined motif (the class) among shared clutter, 32x32"
    embedded = True

    def load_split(self, split: str) -> ImageSplit:
        if split not in PER_CLASS:
            raise ValueError(f"locality has splits {sorted(PER_CLASS)}, not '{split}'")
        images, labels = _generate(split)
        return array_split(f"locality-{split}", images, labels)
