"""Spec building shared by the protocols: resolved method and training configs,
and the backbones x methods x datasets x shots x seeds grid of classification trials.

Each spec carries fully resolved configs (dataclass defaults < the method's
published defaults for this dataset and shot count < the suite), so a spec
alone — and its trial_id — says exactly what ran.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterator

from ..backbones import resolve_backbone
from ..methods.base import build_config
from ..methods.recipes import DEFAULT_RECIPE, published_defaults
from ..methods.registry import resolve_method
from .spec import TrialSpec
from .training import TrainingConfig


def resolve_method_config(cls, dataset: str, shots: int, suite_cfg: dict[str, Any], recipe: str = DEFAULT_RECIPE,
                          backbone: Any = None, protocol: str | None = None) -> dict[str, Any]:
    published, _ = published_defaults(cls, dataset, shots, recipe, backbone, protocol)
    return dataclasses.asdict(build_config(cls.Config, {**published, **suite_cfg}, cls.name))


def resolve_training(cls, dataset: str, shots: int, suite_training: dict, method_training: dict,
                     recipe: str = DEFAULT_RECIPE, backbone: Any = None, protocol: str | None = None) -> dict[str, Any]:
    _, published = published_defaults(cls, dataset, shots, recipe, backbone, protocol)
    # Methods fitted in closed form or not at all (published epochs == 0: zero-shot,
    # linear probe) keep their recipe when a suite sets a global budget; only the
    # method's own `training:` block changes it.
    global_part = {} if published.get("epochs", 1) == 0 else suite_training
    return {**TrainingConfig().to_dict(), **published, **global_part, **method_training}


def resolved(cls, dataset: str, shots: int, backbone: dict, protocol: str, recipe: str, method_config: dict,
             suite_training: dict, method_training: dict) -> dict[str, Any]:
    """The resolved fields of one classification spec (method config, training, recipe)."""
    context = {"recipe": recipe, "backbone": backbone, "protocol": protocol}
    return {"method_config": resolve_method_config(cls, dataset, shots, method_config, **context),
            "training": resolve_training(cls, dataset, shots, suite_training, method_training, **context),
            "recipe": recipe}


def trial_spec(method: str, dataset: str, backbone, shots: int, seed: int, *, protocol: str = "few_shot",
               method_config: dict | None = None, suite_training: dict | None = None,
               method_training: dict | None = None, protocol_config: dict | None = None,
               plugin: str | None = None, suite: str = "", data_root: str | None = None,
               recipe: str = DEFAULT_RECIPE) -> TrialSpec:
    """One classification spec, resolved exactly as a suite's expansion resolves it."""
    cls = resolve_method(method, plugin)
    backbone = resolve_backbone(backbone)
    return TrialSpec(method=method, dataset=dataset, backbone=backbone, shots=shots, seed=seed, protocol=protocol,
                     protocol_config=dict(protocol_config or {}), plugin=plugin, suite=suite, data_root=data_root,
                     **resolved(cls, dataset, shots, backbone, protocol, recipe, method_config or {},
                                suite_training or {}, method_training or {}))


def classification_grid(suite, protocol: str, zero_shot_config: dict) -> Iterator[TrialSpec]:
    """Every (backbone, method, dataset, shots, seed) of a classification suite.
    A method that learns nothing from images (``uses_training_data = False``)
    runs once per dataset as protocol ``zero_shot``: shots 0, the first seed."""
    for backbone_ref in suite.backbones:
        backbone = resolve_backbone(backbone_ref)
        for entry in suite.methods:
            cls = resolve_method(entry.name, entry.plugin)
            uses_data = cls.uses_training_data
            recipe = entry.recipe or suite.recipe
            name = protocol if uses_data else "zero_shot"
            for dataset in suite.datasets:
                grid = [(s, seed) for s in suite.shots for seed in suite.seeds] if uses_data else [(0, suite.seeds[0])]
                for shots, seed in grid:
                    yield TrialSpec(
                        method=entry.name, dataset=dataset, backbone=backbone, shots=shots, seed=seed, protocol=name,
                        protocol_config=dict(suite.protocol_config if uses_data else zero_shot_config),
                        plugin=entry.plugin, suite=suite.name, data_root=suite.data_root,
                        **resolved(cls, dataset, shots, backbone, name, recipe, entry.config, suite.training,
                                   entry.training))
