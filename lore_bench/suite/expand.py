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
from ..errors import UserError, did_you_mean
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


class FilterError(UserError, ValueError):
    """An ``--only`` filter that is malformed or selects nothing."""

    def __init__(self, text: str, message: str, fix: str | None = None):
        super().__init__(f"--only '{text}'", message, fix=fix or f"keys: {', '.join(FILTER_KEYS)}; "
                         "values separated by commas, e.g. --only method=coop,lore,dataset=mnist")


def parse_only(text: str | None) -> dict[str, set[str]]:
    """``method=coop,cocoop,dataset=mnist`` -> {"method": {"coop", "cocoop"}, "dataset": {"mnist"}}."""
    if text is None:
        return {}
    filters: dict[str, set[str]] = {}
    key = None
    for item in text.split(","):
        item = item.strip()
        if "=" in item:
            key, value = (part.strip() for part in item.split("=", 1))
            if key not in FILTER_KEYS:
                raise FilterError(text, f"unknown key '{key}'" + did_you_mean(key, FILTER_KEYS))
            if not value:
                raise FilterError(text, f"'{key}=' has no value")
            filters.setdefault(key, set()).add(value)
        elif key is None and item:
            raise FilterError(text, f"'{item}' has no key; expected KEY=VALUE first")
        elif item:
            filters[key].add(item)
    if not filters:
        raise FilterError(text, "no KEY=VALUE in it")
    return filters


def _natural(value: str) -> tuple:
    """Numbers in numeric order (1, 4, 16), then names."""
    return (0, int(value), "") if value.lstrip("-").isdigit() else (1, 0, value)


def _filter_values(s: TrialSpec) -> dict[str, str]:
    return {"method": s.method, "dataset": s.dataset, "backbone": s.backbone_name,
            "shots": str(s.shots), "seed": str(s.seed), "protocol": s.protocol}


def apply_only(specs: list[TrialSpec], filters: dict[str, set[str]], text: str | None = None) -> list[TrialSpec]:
    """The specs every filter key admits. A value no trial of the suite has is
    an error with the valid values (and the nearest), as is a filter that keeps nothing."""
    text = text if text is not None else ",".join(f"{k}={v}" for k, vs in filters.items() for v in sorted(vs))
    valid: dict[str, set[str]] = {k: set() for k in FILTER_KEYS}
    for s in specs:
        for k, v in _filter_values(s).items():
            valid[k].add(v)
    for key, wanted in filters.items():
        known = sorted(valid[key], key=_natural)
        for value in sorted(wanted):
            if value in valid[key]:
                continue
            if key in ("shots", "seed") and not value.lstrip("-").isdigit():
                problem = f"{key}: expected an integer, got '{value}'"
            else:
                problem = f"no trial of this suite has {key} '{value}'" + did_you_mean(value, known)
            raise FilterError(text, problem, f"valid {key} values here: {', '.join(known) or '(none)'}")
    kept = [s for s in specs if all(_filter_values(s)[k] in allowed for k, allowed in filters.items())]
    if specs and not kept:
        raise FilterError(text, "each value exists, but no trial matches them all together (zero-shot methods "
                          "run only with shots 0 and the first seed)",
                          "`lore-bench run SUITE --dry-run` lists the trials; loosen one of the keys")
    return kept
