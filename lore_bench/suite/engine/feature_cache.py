"""Frozen image features, computed once per (backbone, images, preprocessing)
and shared by every trial on a machine.

Methods whose image tower is frozen and untouched (``caches_image_features``
and not ``trains_backbone``) see a constant feature for an un-augmented image,
so the cache is exact. Two levels: a per-process dict (trials reusing a Ray
worker) and files under ``$LORE_BENCH_CACHE/features`` (other workers and later
runs), written atomically and read with ``torch.load(weights_only=True)``.

A key carries everything that changes a feature: the format version, the
backbone config and a fingerprint of its weights as built, the compute device
type and dtype (autocast), the test transform, the dataset and the split's
content fingerprint (keys, labels and pixel identity, see
``benchmarks.image_cache.content_fingerprint``). Features are written only
from a tower that still matches its fingerprint; a split without pixel
identity is never cached.
"""
from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import torch

from ...caches import mark_used
from ...backbones import BackboneChangedError, changes_since_build, weights_digest
from ...backbones.base import Backbone
from ...benchmarks.base import ImageSplit
from ...benchmarks.image_cache import content_fingerprint
from .checkpoint import save_whole
from .data import build_transform, loader, transform_key

#: Bump when what a cached file holds, or how its key is made, changes.
FORMAT_VERSION = 2

_MEMORY: "OrderedDict[str, torch.Tensor]" = OrderedDict()
_MEMORY_ITEMS = 16


def cache_dir() -> Path:
    return Path(os.environ.get("LORE_BENCH_CACHE", "~/.cache/lore_bench")).expanduser()


def feature_key(backbone: Backbone, backbone_cfg: dict, split: ImageSplit, dataset: str, precision: str,
                content: str | None = None, transform: str | None = None) -> str | None:
    """The cache key of ``split``'s features; None when the split has no pixel identity.
    ``precision`` names the compute device type and dtype (e.g. ``cuda-bfloat16``); ``transform`` the
    preprocessing (default: the test transform)."""
    content = content or content_fingerprint(split)
    if content is None:
        return None
    h = hashlib.sha256()
    for part in (f"format{FORMAT_VERSION}", repr(sorted(backbone_cfg.items())), weights_digest(backbone),
                 precision, transform or transform_key(backbone.info), dataset, content):
        h.update(part.encode())
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
                    device: torch.device, batch_size: int, autocast: Callable, precision: str,
                    use_disk: bool = True) -> torch.Tensor:
    key = feature_key(backbone, backbone_cfg, split, dataset, precision)
    return _cached(key, len(split), lambda: compute_features(backbone, split, device, batch_size, autocast),
                   backbone, use_disk)


def augmented_view_features(backbone: Backbone, backbone_cfg: dict, split: ImageSplit, dataset: str, views,
                            epoch_seed: int, batch_size: int, autocast: Callable, precision: str) -> torch.Tensor:
    """Frozen features of one epoch's augmented views of ``split`` (``device_data.DeviceViews``), shared by
    every trial that makes the same views: the views are a function of the images and the epoch seed
    (seed, epoch, stage), not of the method, so CoOp, ProGrad, CLIP-Adapter and CoCoOp trials of one
    (dataset, shots, seed) encode each epoch's views once between them."""
    transform = f"{views.transform_key()}-epochseed{epoch_seed}"
    key = feature_key(backbone, backbone_cfg, split, dataset, precision, transform=transform)

    def compute():
        with torch.no_grad(), autocast():
            return torch.cat([backbone.encode_image(batch).float().cpu()
                              for batch in views.all_views(epoch_seed, batch_size)])

    return _cached(key, len(split), compute, backbone, True)


def _cached(key: str | None, n: int, compute: Callable[[], torch.Tensor], backbone: Backbone,
            use_disk: bool) -> torch.Tensor:
    if os.environ.get("LORE_BENCH_FEATURE_CACHE", "1") == "0" or key is None:  # off: benchmarks, debugging
        return compute()
    if key in _MEMORY:
        _MEMORY.move_to_end(key)
        return _MEMORY[key].clone()  # a copy: a method writing into it must not change the next trial's
    path = cache_dir() / "features" / f"{key}.pt"
    feats = None
    if use_disk and path.exists():
        try:
            feats = torch.load(path, weights_only=True)
            mark_used(path)  # for `lore-bench cache prune`
        except Exception:  # a torn or foreign file: recompute rather than fail the trial
            feats = None
    if not isinstance(feats, torch.Tensor) or len(feats) != n:
        feats = compute()
        # The key names the tower as built: features of a tower that a method
        # changed since must never be stored under it (they would outlive the trial).
        changed = changes_since_build(backbone)
        if changed:
            raise BackboneChangedError("the backbone changed since it was built (" + "; ".join(changed) +
                                       "); its features are not cached")
        if use_disk:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_whole(feats, path)
    _MEMORY[key] = feats
    while len(_MEMORY) > _MEMORY_ITEMS:
        _MEMORY.popitem(last=False)
    return feats.clone()


def clear_memory_cache() -> None:
    _MEMORY.clear()
