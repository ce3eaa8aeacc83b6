"""Decoded-image cache: decode and resize each image of a split once, then let
every trial on the machine read it from a memory-mapped uint8 array.

A suite runs many trials (methods x shots x seeds) on the same images; decoding
JPEGs of 500 px and resizing them to 224 dominates the data loading of a frozen
backbone. The cache stores each image resized (short side to ``size``, bicubic)
and centre-cropped to ``size`` x ``size`` — exactly the test-time preprocessing
before normalisation — so the test transform leaves cached images unchanged,
and the training augmentation (RandomResizedCrop) crops within that square.

An entry is keyed by dataset, split, size, a caller-given data version and the
split's content fingerprint: its keys and labels, and the identity of its
pixels — size and modification time (ns) of every source file under its
absolute path, or the digest of an in-memory array. Size + mtime rather than a
content hash: one ``stat`` per file costs microseconds where hashing would read
every image on every trial (what the cache exists to avoid), and any rewrite of
a file, or a data root elsewhere, gives a new entry. (A file rewritten with the
same size and its old mtime forced back would be missed.) A split with no
pixel identity is served uncached. It is written to a temporary folder and renamed into place (atomic);
a lock file makes concurrent trials wait for the first builder instead of all
decoding the same images. Location: ``$LORE_BENCH_CACHE`` or ~/.cache/lore_bench.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

from ..caches import mark_used
from .base import ImageSplit

CACHE_ENV = "LORE_BENCH_CACHE"
FORMAT_VERSION = 2  # bump when the stored layout, the resize or the key changes


def cache_root(root: str | Path | None = None) -> Path:
    base = root or os.environ.get(CACHE_ENV) or "~/.cache/lore_bench"
    return Path(base).expanduser() / "images"


def _file_identity(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}\0missing"  # loading it will fail with its own message
    return f"{path}\0{st.st_size}\0{st.st_mtime_ns}"


def content_fingerprint(split: ImageSplit) -> str | None:
    """What ``split``'s pixels are: keys, labels, each source file's path, size and
    mtime, and its ``origin``; None when the split says nothing of its pixels."""
    if split.files is None and not split.origin:
        return None
    h = hashlib.sha256(f"origin\0{split.origin}\n".encode())
    files = split.files if split.files is not None else [""] * len(split)
    for key, label, path in zip(split.keys, split.labels.tolist(), files):
        h.update(f"{key}\0{label}\0{_file_identity(path) if path else ''}\n".encode())
    return h.hexdigest()[:24]


def entry_name(split: ImageSplit, dataset: str, split_name: str, size: int, data_version: str = "",
               content: str | None = None) -> str:
    content = content or content_fingerprint(split)
    ident = json.dumps({"dataset": dataset, "split": split_name, "size": size, "data_version": data_version,
                        "format": FORMAT_VERSION, "content": content}, sort_keys=True)
    return f"{dataset}-{split_name}-{size}px-{hashlib.sha256(ident.encode()).hexdigest()[:16]}"


def resize_center_crop(img: Image.Image, size: int) -> np.ndarray:
    """Short side to ``size`` (bicubic), centre crop ``size`` x ``size``, RGB uint8."""
    img = img.convert("RGB")
    w, h = img.size
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((new_w, new_h), Image.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (POSIX); without fcntl, no lock (a rare
    duplicate build is still safe: the rename is atomic)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(split: ImageSplit, size: int, final: Path, meta: dict) -> None:
    tmp = final.with_name(f"{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        array = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                          shape=(len(split), size, size, 3))
        for i in range(len(split)):
            array[i] = resize_center_crop(split.load(i), size)
        array.flush()
        del array
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        os.rename(tmp, final)  # atomic: readers see a complete entry or none
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class _MemmapLoader:
    """``load(i)`` from the cached array; opened lazily so it pickles cheaply
    (a Ray worker reopens the file instead of receiving the pixels)."""

    def __init__(self, path: Path):
        self.path = path
        self._array = None

    def __call__(self, i: int) -> Image.Image:
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r")
        return Image.fromarray(np.asarray(self._array[i]))

    def __getstate__(self):
        return {"path": self.path, "_array": None}


def cached_split(split: ImageSplit, dataset: str, split_name: str, size: int, data_version: str = "",
                 root: str | Path | None = None) -> ImageSplit:
    """``split`` with its images served from the cache (built on first use);
    ``split`` itself when it has no pixel identity to key an entry by."""
    content = content_fingerprint(split)
    if content is None:
        return split
    base = cache_root(root)
    base.mkdir(parents=True, exist_ok=True)
    final = base / entry_name(split, dataset, split_name, size, data_version, content)
    if not (final / "meta.json").exists():
        with _locked(base / f"{final.name}.lock"):
            if not (final / "meta.json").exists():  # another process may have built it meanwhile
                meta = {"dataset": dataset, "split": split_name, "size": size, "data_version": data_version,
                        "count": len(split), "content": content, "format": FORMAT_VERSION}
                _build(split, size, final, meta)
    mark_used(final / "meta.json")  # for `lore-bench cache prune`
    # The cached pixels are the resized originals: say so, so a feature cache
    # never mixes them with features of the original images.
    return ImageSplit(keys=list(split.keys), labels=split.labels.copy(), load=_MemmapLoader(final / "images.npy"),
                      files=list(split.files) if split.files is not None else None,
                      origin=f"{split.origin}|image-cache:{size}px:v{FORMAT_VERSION}")
