"""Backbones by name or by config: open_clip CLIP models and timm ViTs, frozen.

A backbone config is a dict ``{type: open_clip|timm, arch, pretrained, text_tower}``;
the names below are shorthands a suite can use. Built backbones are cached per
process, so trials that reuse a Ray worker do not rebuild them; every trial
runs inside :func:`pristine_backbone`, which checks (by fingerprint) that the
trial left the cached tower as it was built, and rebuilds it when not. The MLP activation
of an open_clip model follows its pretrained tag (QuickGELU for OpenAI's weights,
``activation.py``); ``weights=False`` builds the same model with random weights.
"""
from __future__ import annotations

import copy
import json
import os
import threading
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Iterator

from ..plugins import Registry, UnknownNameError, load_object
from .activation import BackboneActivationError, check_activation, needs_quick_gelu  # noqa: F401 - re-exported
from .base import Backbone, ImageTowerInfo, TextTower  # noqa: F401
from .fingerprint import Fingerprint, fingerprint

NAMED_BACKBONES: dict[str, dict[str, Any]] = {
    "micro_clip": {"type": "open_clip", "arch": "micro-clip", "pretrained": "lore-bench-v1"},
    # Same architecture, random weights: fast tests of the wiring, never of accuracy.
    "micro_clip_random": {"type": "open_clip", "arch": "micro-clip", "pretrained": None},
    "clip_vit_b16_openai": {"type": "open_clip", "arch": "ViT-B-16", "pretrained": "openai"},
    "clip_vit_b32_openai": {"type": "open_clip", "arch": "ViT-B-32", "pretrained": "openai"},
    # LORE on a supervised ViT takes its class-name knowledge from CLIP's text tower (docs/paper/lore.md).
    "vit_b16_in21k": {
        "type": "timm",
        "arch": "vit_base_patch16_224.augreg_in21k",
        "pretrained": True,
        "text_tower": {"arch": "ViT-B-16", "pretrained": "openai"},
    },
}

BACKBONE_KEYS = {"type", "arch", "pretrained", "text_tower", "plugin"}


class BackboneUnavailableError(RuntimeError):
    """Weights cannot be had on this machine (offline, not cached)."""


def resolve_backbone(ref: str | dict[str, Any]) -> dict[str, Any]:
    """A backbone name or config -> full config dict (with ``name``)."""
    if isinstance(ref, str):
        if ref not in NAMED_BACKBONES:
            raise UnknownNameError("backbone", ref, NAMED_BACKBONES)
        cfg = copy.deepcopy(NAMED_BACKBONES[ref])
        cfg["name"] = ref
        return cfg
    cfg = copy.deepcopy(dict(ref))
    cfg.setdefault("name", f"{cfg.get('type')}:{cfg.get('arch')}:{cfg.get('pretrained')}")
    return cfg


class BackboneChangedError(RuntimeError):
    """A trial changed the process-cached backbone (weights, requires_grad, modules)."""


#: How many built backbones a process keeps (a suite rarely alternates more).
_CACHE_SIZE = 2
_CACHE: "OrderedDict[str, Backbone]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
# The fingerprint each backbone had when first seen, by object: a deep copy
# (a trains_backbone method's private tower) does not inherit it.
_REFERENCE: "weakref.WeakKeyDictionary[Backbone, Fingerprint]" = weakref.WeakKeyDictionary()


def build_backbone(ref: str | dict[str, Any], weights: bool = True) -> Backbone:
    """The frozen backbone ``ref`` names, built once per process. ``weights=False``:
    the same architecture and activation with random weights (nothing is downloaded; tests)."""
    cfg = resolve_backbone(ref)
    key = json.dumps({**cfg, "_weights": weights}, sort_keys=True) if not weights else json.dumps(cfg, sort_keys=True)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    backbone = _build_seeded(json.dumps(cfg, sort_keys=True), weights)
    reference_fingerprint(backbone)  # once, at build: what every trial must leave behind
    with _CACHE_LOCK:
        backbone = _CACHE.setdefault(key, backbone)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return backbone


def discard_backbone(ref: str | dict[str, Any]) -> None:
    """Forget the cached build of ``ref``: the next ``build_backbone`` builds it afresh."""
    with _CACHE_LOCK:
        _CACHE.pop(json.dumps(resolve_backbone(ref), sort_keys=True), None)


def reference_fingerprint(backbone: Backbone) -> Fingerprint:
    """The fingerprint ``backbone`` had when built (or first seen here)."""
    if backbone not in _REFERENCE:
        _REFERENCE[backbone] = fingerprint(backbone)
    return _REFERENCE[backbone]


def weights_digest(backbone: Backbone) -> str:
    """Names the weights (and structure) of ``backbone`` as built: part of feature-cache keys."""
    return reference_fingerprint(backbone).digest


def changes_since_build(backbone: Backbone) -> list[str]:
    """What differs now from the fingerprint taken at build (empty: pristine)."""
    return fingerprint(backbone).changes(reference_fingerprint(backbone))


@contextmanager
def pristine_backbone(ref: str | dict[str, Any], device, method: str = "?") -> Iterator[Backbone]:
    """The cached backbone of ``ref`` on ``device`` for one trial of ``method``.

    After the trial (also when it raised) the tower is fingerprinted again; if
    the trial changed it, the cached build is dropped, so the next trial gets a
    fresh one, and the trial fails with :class:`BackboneChangedError` naming
    the method (perf/isolation_cost.py measures what the check costs)."""
    backbone = build_backbone(ref).to(device)
    failure: BaseException | None = None
    try:
        yield backbone
    except BaseException as err:  # the check below runs whatever ended the trial
        failure = err
    changed = changes_since_build(backbone)
    if changed:
        discard_backbone(ref)
        name = resolve_backbone(ref)["name"]
        raise BackboneChangedError(
            f"method '{method}' changed the shared backbone '{name}' during its trial "
            f"({'; '.join(changed)}). A method that trains, unfreezes or replaces backbone parameters "
            "must declare `trains_backbone = True` on its class: it then gets a private copy of the "
            "backbone and those parameters are trained, counted and saved. The cached backbone was "
            "rebuilt for the next trial; this trial's result is not kept.") from failure
    if failure is not None:
        raise failure


def _build_seeded(cfg_json: str, weights: bool = True) -> Backbone:
    import torch

    # Randomly initialised towers (pretrained: null, tests) are the same in
    # every process; the caller's random stream is left untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return _build(json.loads(cfg_json), weights)


def _build(cfg: dict, weights: bool = True) -> Backbone:
    if cfg.get("plugin"):
        backbone = load_object(cfg["plugin"])(cfg)
    else:
        backbone = BACKBONE_TYPES.get(cfg.get("type", "open_clip"))(cfg, weights)
    if not isinstance(backbone, Backbone):
        raise TypeError(f"backbone builder for '{cfg['name']}' returned {type(backbone).__name__}, "
                        "not a lore_bench.backbones.Backbone")
    return backbone.freeze()


def _build_open_clip(cfg: dict, weights: bool = True) -> Backbone:
    from .open_clip_backbone import OpenClipBackbone

    model, tokenizer = _open_clip_model(cfg["arch"], cfg.get("pretrained"), weights)
    return OpenClipBackbone(cfg["name"], model, tokenizer)


def _build_timm(cfg: dict, weights: bool = True) -> Backbone:
    from .timm_backbone import TimmVitBackbone

    text = None
    if cfg.get("text_tower"):
        tt = cfg["text_tower"]
        model, tokenizer = _open_clip_model(tt["arch"], tt.get("pretrained"), weights)
        text = TextTower(model, tokenizer)
    vit = _timm_model(cfg["arch"], cfg.get("pretrained", True) and weights)
    return TimmVitBackbone(cfg["name"], vit, text)


#: Backbone families: ``type`` of a backbone config -> builder ``(cfg, weights) -> Backbone``
#: (``weights=False``: the same architecture with random weights). Third parties add a
#: family through the entry-point group ``lore_bench.backbones``, or name a builder
#: ``(cfg) -> Backbone`` directly with ``plugin: "pkg.module:build"`` in the suite.
BACKBONE_TYPES: Registry = Registry("backbone type", None, "lore_bench.backbones")
BACKBONE_TYPES.add("open_clip", _build_open_clip)
BACKBONE_TYPES.add("timm", _build_timm)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}


def _open_clip_model(arch: str, pretrained: str | None, weights: bool = True):
    """(model, tokenizer). The activation comes from the pretrained tag, whether or
    not its weights are loaded, and a model that contradicts it is refused."""
    import open_clip

    from . import micro_clip

    micro_clip.register_config()
    tokenizer = open_clip.get_tokenizer(arch)
    if arch == micro_clip.ARCH:
        model = open_clip.create_model(arch, pretrained=None)
        if pretrained and weights:
            micro_clip.load_pretrained(model, pretrained)
        return model.eval(), tokenizer
    quick_gelu = needs_quick_gelu(arch, pretrained)
    what = f"{arch} / {pretrained}"
    if not weights:
        model = open_clip.create_model(arch, pretrained=None, force_quick_gelu=quick_gelu)
        check_activation(model, quick_gelu, what)
        return model.eval(), tokenizer
    if pretrained and _offline() and not _open_clip_cached(arch, pretrained):
        raise BackboneUnavailableError(
            f"open_clip weights '{arch}' / '{pretrained}' are not in the local cache and "
            "HF_HUB_OFFLINE=1 forbids downloading them. Run once on a machine with internet "
            f"(python -c \"import open_clip; open_clip.create_model('{arch}', pretrained='{pretrained}')\") "
            "and copy ~/.cache/huggingface, or use the embedded 'micro_clip' backbone."
        )
    try:
        model = open_clip.create_model(arch, pretrained=pretrained, force_quick_gelu=quick_gelu)
    except Exception as err:  # network errors come in many types; keep the cause
        raise BackboneUnavailableError(f"cannot load open_clip '{arch}' / '{pretrained}': {err}") from err
    check_activation(model, quick_gelu, what)
    return model.eval(), tokenizer


def _open_clip_cached(arch: str, tag: str) -> bool:
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        return False
    hub = cfg.get("hf_hub")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo_id = "/".join(hub.rstrip("/").split("/")[:2])
        for fname in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
            if isinstance(try_to_load_from_cache(repo_id, fname), str):
                return True
        return False
    url = cfg.get("url", "")
    cache = os.path.expanduser("~/.cache/clip")
    return bool(url) and os.path.exists(os.path.join(cache, os.path.basename(url)))


def _timm_model(arch: str, pretrained: bool):
    import timm

    if pretrained and _offline():
        from huggingface_hub import try_to_load_from_cache

        cfg = timm.models.get_pretrained_cfg(arch)
        hub_id = getattr(cfg, "hf_hub_id", None) if cfg else None
        cached = hub_id and any(
            isinstance(try_to_load_from_cache(hub_id, f), str) for f in ("model.safetensors", "pytorch_model.bin")
        )
        if not cached:
            raise BackboneUnavailableError(
                f"timm weights '{arch}' are not in the local cache and HF_HUB_OFFLINE=1 forbids "
                "downloading them. Run once with internet (python -c \"import timm; "
                f"timm.create_model('{arch}', pretrained=True)\") or set pretrained: false."
            )
    try:
        return timm.create_model(arch, pretrained=bool(pretrained), num_classes=0).eval()
    except Exception as err:
        raise BackboneUnavailableError(f"cannot load timm '{arch}' (pretrained={pretrained}): {err}") from err
