"""How much the decoded-image cache saves: time to get every image of a split
ready for a 224-px backbone (decode JPEG + resize + centre crop), without the
cache and with it, on a generated folder of JPEGs.

    python perf/image_cache_bench.py [--images 300] [--size 224] [--epochs 3]

Prints the time per pass over the images for: decoding each time (what every
trial does without the cache), building the cache once, reading from it.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from lore_bench.benchmarks.base import ImageSplit
from lore_bench.benchmarks.image_cache import cached_split, resize_center_crop
from lore_bench.benchmarks.splits.hashed import file_split


def make_jpegs(folder: Path, count: int, width: int = 500, height: int = 375) -> ImageSplit:
    """Photo-sized JPEGs with smooth structure plus noise (closer to real JPEG
    decode cost than flat colours)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    paths = []
    for i in range(count):
        phase = rng.uniform(0, 6.28, 3)
        base = np.stack([np.sin(xx / (20 + 7 * c) + yy / (31 + 5 * c) + phase[c]) for c in range(3)], -1)
        pixels = np.clip(127 + 100 * base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        rel = f"class{i % 5}/img_{i:05d}.jpg"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / rel, quality=90)
        paths.append(rel)
    return file_split(folder, paths, [i % 5 for i in range(count)])


def one_pass(split, size: int | None) -> float:
    start = time.perf_counter()
    for i in range(len(split)):
        img = split.load(i)
        if size is not None:
            resize_center_crop(img, size)
        else:
            np.asarray(img)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=3, help="passes over the images to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        split = make_jpegs(Path(tmp) / "jpegs", args.images)
        uncached = min(one_pass(split, args.size) for _ in range(args.epochs))
        start = time.perf_counter()
        cached = cached_split(split, "bench", "train", args.size, root=Path(tmp) / "cache")
        build = time.perf_counter() - start
        # a cached image is already resized and cropped: the pipeline's resize is a no-op
        reads = min(one_pass(cached, None) for _ in range(args.epochs))
    n = args.images
    print(f"{n} JPEGs 500x375 -> {args.size}x{args.size}, best of {args.epochs} passes")
    print(f"  decode + resize, no cache : {uncached:7.3f} s  ({1000 * uncached / n:6.2f} ms/image)")
    print(f"  build the cache (once)    : {build:7.3f} s")
    print(f"  read from the cache       : {reads:7.3f} s  ({1000 * reads / n:6.2f} ms/image)")
    print(f"  speed-up per pass         : {uncached / reads:7.1f}x")


if __name__ == "__main__":
    main()
