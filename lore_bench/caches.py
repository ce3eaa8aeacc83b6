"""What lore-bench keeps under its cache folder, and removing what is no longer used.

Four caches live there (``$LORE_BENCH_CACHE``, default ``~/.cache/lore_bench``):
``images/<entry>/`` (decoded, resized pixels, ``benchmarks/image_cache.py``),
``features/<key>.pt`` (frozen-tower features, ``suite/engine/feature_cache.py``),
``pools/<name>-<key>.npz`` (the embedded datasets' arrays, ``benchmarks/pool_cache.py``)
and ``draws/images-<key>.npy`` (the report's bootstrap image draws, ``plots/draw_cache.py``).
Their keys change whenever what they hold would (weights, data, format version),
so an old entry is never read again, but it is not removed either: ``lore-bench
cache prune`` drops entries unused for N days. Each cache touches an entry's
mtime when it serves it, so "unused" means "not read", not "not written".
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "LORE_BENCH_CACHE"
KINDS = ("images", "features", "pools", "draws")


def cache_base() -> Path:
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/lore_bench").expanduser()


def mark_used(path: Path) -> None:
    """Record that a cache entry was just read (its mtime), for ``prune``."""
    try:
        os.utime(path)
    except OSError:  # a read-only cache still serves; it just cannot be pruned by age
        pass


@dataclass(frozen=True)
class Entry:
    kind: str
    path: Path
    bytes: int
    last_used: float  # seconds since the epoch


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def entries(base: Path | None = None) -> list[Entry]:
    """Every finished entry of the caches (temp files and lock files excluded)."""
    base = base or cache_base()
    out = []
    for kind in KINDS:
        folder = base / kind
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name.startswith(".") or ".tmp" in path.name or path.suffix == ".lock":
                continue
            marker = path / "meta.json" if path.is_dir() else path
            if not marker.exists():
                continue
            out.append(Entry(kind, path, _size(path), marker.stat().st_mtime))
    return out


def prune(unused_days: float, base: Path | None = None, now: float | None = None) -> list[Entry]:
    """Remove the entries not read for ``unused_days`` days (0: all); returns them."""
    cutoff = (now or time.time()) - unused_days * 86400
    removed = []
    for entry in entries(base):
        if entry.last_used <= cutoff:
            if entry.path.is_dir():
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                entry.path.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
