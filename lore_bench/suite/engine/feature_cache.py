"""Frozen image features, computed once per (backbone, images, preprocessing)
and shared by every trial on a machine.

Methods whose image tower is frozen and untouched (``caches_image_features``)
see a constant feature for an un-augmented image, so the cache is exact. Two
levels: a per-process dict (trials reusing a Ray worker) and files under
``$LORE_BENCH_CACHE/features`` (other workers and later runs), written
atomically and read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import torch

from ...backbones.base import Backbone
from ...benchmarks.base import ImageSplit
from .data import build_transform, loader, transform_key

_MEMORY: "OrderedDict[str, torch.Tensor]" = OrderedDict()
_MEMORY_ITEMS = 16


def cache_dir() -> Path:
    return Path(os.environ.get("LORE_BENCH_CACHE", "~/.cache/lore_bench")).expanduser()


def feature_key(backbone: Backbone, backbone_cfg: dict, split: ImageSplit, dataset: str) -> str:
    h = hashlib.sha256()
    h.update(repr(sorted(backbone_cfg.items())).encode())
    h.update(transform_key(backbone.info).encode())
    h.update(dataset.encode())
    for key in split.keys:
        h.update(key.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def compute_features(backbone: Backbone, split: ImageSplit, device: torch.device, batch_size: int,
                     autocast: Callable) -> torch.Tensor:
    feats = []
    transform = build_transform(backbone.info, train_augment=False)
    with torch.no_grad():
        for batch in loader(split, transform, batch_size, shuffle=False):
            with autocast():
                feats.append(backbone.encode_image(batch["images"].to(device)).float().cpu())
    return torch.cat(feats) if feats else torch.zeros(0, backbone.info.feature_dim)


def cached_features(backbone: Backbone, backbone_cfg: dict, split: ImageSplit, dataset: str,
                    device: torch.device, batch_size: int, autocast: Callable, use_disk: bool = True) -> torch.Tensor:
    if os.environ.get("LORE_BENCH_FEATURE_CACHE", "1") == "0":  # off: for benchmarks and debugging
        return compute_features(backbone, split, device, batch_size, autocast)
    key = feature_key(backbone, backbone_cfg, split, dataset)
    if key in _MEMORY:
        _MEMORY.move_to_end(key)
        return _MEMORY[key]
    path = cache_dir() / "features" / f"{key}.pt"
    feats = None
    if use_disk and path.exists():
        try:
            feats = torch.load(path, weights_only=True)
        except Exception:  # a torn or foreign file: recompute rather than fail the trial
            feats = None
    if feats is None or len(feats) != len(split):
        feats = compute_features(backbone, split, device, batch_size, autocast)
        if use_disk:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            torch.save(feats, tmp)
            os.replace(tmp, path)
    _MEMORY[key] = feats
    while len(_MEMORY) > _MEMORY_ITEMS:
        _MEMORY.popitem(last=False)
    return feats


def clear_memory_cache() -> None:
    _MEMORY.clear()
