"""Suite -> TrialSpecs: methods x datasets x backbones x shots x seeds.

Each spec carries fully resolved configs (dataclass defaults < the method's
published defaults for this dataset and shot count < the suite), so a spec
alone — and its trial_id — says exactly what ran.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from ..backbones import resolve_backbone
from ..methods.base import build_config
from ..methods.registry import resolve_method
from .config import Suite
from .spec import TrialSpec
from .training import TrainingConfig

FILTER_KEYS = ("method", "dataset", "backbone", "shots", "seed", "protocol")


def resolve_method_config(cls, dataset: str, shots: int, suite_cfg: dict[str, Any]) -> dict[str, Any]:
    merged = {**cls.default_config(dataset, shots), **suite_cfg}
    return dataclasses.asdict(build_config(cls.Config, merged, cls.name))


def resolve_training(cls, dataset: str, shots: int, suite_training: dict, method_training: dict) -> dict[str, Any]:
    published = cls.default_training(dataset, shots)
    # Methods fitted in closed form or not at all (published epochs == 0: zero-shot,
    # linear probe) keep their recipe when a suite sets a global budget; only the
    # method's own `training:` block changes it.
    global_part = {} if published.get("epochs", 1) == 0 else suite_training
    return {**TrainingConfig().to_dict(), **published, **global_part, **method_training}


def expand(suite: Suite) -> list[TrialSpec]:
    if suite.protocol == "frozen_features":
        from .expand_frozen import expand_frozen

        return _dedupe(expand_frozen(suite))
    specs: list[TrialSpec] = []
    for backbone_ref in suite.backbones:
        backbone = resolve_backbone(backbone_ref)
        for entry in suite.methods:
            cls = resolve_method(entry.name, entry.plugin)
            uses_data = getattr(cls, "uses_training_data", True)
            for dataset in suite.datasets:
                # A method that learns nothing from images runs once: shots 0, first seed.
                grid = [(s, seed) for s in suite.shots for seed in suite.seeds] if uses_data else [(0, suite.seeds[0])]
                for shots, seed in grid:
                    specs.append(
                        TrialSpec(
                            method=entry.name,
                            dataset=dataset,
                            backbone=backbone,
                            shots=shots,
                            seed=seed,
                            protocol=suite.protocol if uses_data else "zero_shot",
                            method_config=resolve_method_config(cls, dataset, shots, entry.config),
                            training=resolve_training(cls, dataset, shots, suite.training, entry.training),
                            protocol_config=suite.protocol_config if uses_data else {},
                            plugin=entry.plugin,
                            suite=suite.name,
                            data_root=suite.data_root,
                        )
                    )
    return _dedupe(specs)


def _dedupe(specs: Iterable[TrialSpec]) -> list[TrialSpec]:
    seen: dict[str, TrialSpec] = {}
    for s in specs:
        seen.setdefault(s.trial_id, s)
    return list(seen.values())


def parse_only(text: str | None) -> dict[str, set[str]]:
    """``method=coop,cocoop,dataset=mnist`` -> {"method": {"coop", "cocoop"}, "dataset": {"mnist"}}."""
    if not text:
        return {}
    filters: dict[str, set[str]] = {}
    key = None
    for item in text.split(","):
        item = item.strip()
        if "=" in item:
            key, value = item.split("=", 1)
            key = key.strip()
            if key not in FILTER_KEYS:
                raise ValueError(f"--only: unknown key '{key}'; use one of {', '.join(FILTER_KEYS)}")
            filters.setdefault(key, set()).add(value.strip())
        elif key is None:
            raise ValueError(f"--only '{text}' must look like method=coop,dataset=mnist")
        elif item:
            filters[key].add(item)
    return filters


def apply_only(specs: list[TrialSpec], filters: dict[str, set[str]]) -> list[TrialSpec]:
    def keep(s: TrialSpec) -> bool:
        values = {"method": s.method, "dataset": s.dataset, "backbone": s.backbone_name,
                  "shots": str(s.shots), "seed": str(s.seed), "protocol": s.protocol}
        return all(values[k] in allowed for k, allowed in filters.items())

    return [s for s in specs if keep(s)]
