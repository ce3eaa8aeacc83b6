"""The significance bootstrap's image draws, kept between grids and between processes.

Every grid of a report (a backbone x shots x protocol) resamples a dataset's
test images with the same seeded generator, so the draws of a dataset of ``n``
images are the same array in every grid and every ``report`` command: 2,000
multinomial draws of ``n`` images, which cost ~1 s per 10,000 images to make
(ImageNet's 50,000 test images: ~5 s) and are a pure function of (generator
seed, n, draws, chunking, numpy's generator). They are made once, kept in
memory for the rest of the process (up to ``MEMORY_BYTES``) and on disk under
``$LORE_BENCH_CACHE/draws`` (one byte per image and draw: 100 MB for
ImageNet), read back memory-mapped. ``LORE_BENCH_DRAW_CACHE=0`` keeps them in
memory only. ``lore-bench cache info|prune`` lists and removes the files.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..atomic import replace_whole
from ..caches import cache_base, mark_used

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the arrays' meaning or layout changes
ENABLE_ENV = "LORE_BENCH_DRAW_CACHE"
MEMORY_BYTES = 1 << 30
_MEMORY: dict[str, np.ndarray] = {}


def draw_key(*parts) -> str:
    text = "\0".join(map(str, (FORMAT, np.__version__, *parts)))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cached_counts(name: str, parts: tuple, make: Callable[[], np.ndarray]) -> np.ndarray:
    """``make()``'s array of small non-negative integers (stored as uint8, or
    uint16 when a count exceeds 255), from memory or disk when kept there."""
    key = f"{name}-{draw_key(name, *parts)}"
    if key in _MEMORY:
        _MEMORY[key] = _MEMORY.pop(key)  # most recently used last
        return _MEMORY[key]
    path = cache_base() / "draws" / f"{key}.npy"
    on_disk = os.environ.get(ENABLE_ENV, "1") != "0"
    counts = _read(path) if on_disk else None
    if counts is None:
        made = make()
        counts = made.astype(np.uint8 if made.max(initial=0) < 256 else np.uint16)
        if on_disk:
            _write(path, counts)
    _remember(key, counts)
    return counts


def _read(path: Path) -> np.ndarray | None:
    try:
        counts = np.load(path, mmap_mode="r", allow_pickle=False)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except Exception as err:  # noqa: BLE001 - a torn or foreign file: make it again and replace it
        log.warning("remaking the cached bootstrap draws %s (%s: %s)", path.name, type(err).__name__, err)
        return None
    mark_used(path)
    return counts


def _write(path: Path, counts: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.save would append ".npy" to a bare name
            np.save(fh, counts, allow_pickle=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_whole(path, write)
    except OSError as err:  # a read-only or full cache only costs the next process the draws again
        log.warning("could not keep the bootstrap draws under %s (%s)", path.parent, err)


def _remember(key: str, counts: np.ndarray) -> None:
    while _MEMORY and counts.nbytes + sum(a.nbytes for a in _MEMORY.values()) > MEMORY_BYTES:
        _MEMORY.pop(next(iter(_MEMORY)))
    if counts.nbytes <= MEMORY_BYTES:
        _MEMORY[key] = counts
