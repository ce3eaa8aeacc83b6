"""A method's hyper-parameter search space (the tuned protocol, docs/tuned.md).

A method declares ``search_space()`` next to its ``Config``: a dict from a key
(a field of its Config, or of the engine's ``TrainingConfig``) to a
distribution below. Ranges are stated relative to the trial's resolved recipe
value where that makes sense (``Around``): the search is centred on the
published recipe of each dataset, not on a number picked here.

Sampling is plain numpy, seeded by a hash of the trial (never Python's
``hash``), so a suite expands to the same configurations on every machine and
each configuration's trial id is stable. No Ray here: the orchestrator runs
the sampled configurations; its scheduler decides which ones stop early.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from typing import Any, Union

import numpy as np


@dataclass(frozen=True)
class Around:
    """Log-uniform on [v / factor, v * factor] around the recipe's value v."""

    factor: float = 10.0


@dataclass(frozen=True)
class LogUniform:
    low: float
    high: float


@dataclass(frozen=True)
class Choice:
    values: tuple


@dataclass(frozen=True)
class EpochShare:
    """Epochs as shares of the protocol's per-configuration budget ``max_epochs``."""

    shares: tuple = (0.5, 1.0)


Distribution = Union[Around, LogUniform, Choice, EpochShare]


def sample_value(dist: Distribution, rng: np.random.Generator, recipe_value: Any, max_epochs: int) -> Any:
    if isinstance(dist, Around):
        v = float(recipe_value)
        if v <= 0:  # nothing to scale (a recipe of 0 weight decay): keep the recipe's value
            return recipe_value
        return float(math.exp(rng.uniform(math.log(v / dist.factor), math.log(v * dist.factor))))
    if isinstance(dist, LogUniform):
        return float(math.exp(rng.uniform(math.log(dist.low), math.log(dist.high))))
    if isinstance(dist, Choice):
        return dist.values[int(rng.integers(len(dist.values)))]
    if isinstance(dist, EpochShare):
        share = dist.shares[int(rng.integers(len(dist.shares)))]
        return max(1, int(round(share * max_epochs)))
    raise TypeError(f"unknown search distribution {dist!r}")


def split_keys(space: dict[str, Distribution], config_cls: type, training_fields: list[str],
               method: str) -> tuple[list[str], list[str]]:
    """(method-config keys, training keys) of a space; a key that is neither is an error."""
    own = {f.name for f in dataclasses.fields(config_cls)}
    method_keys, training_keys = [], []
    for key in space:
        if key in own:
            method_keys.append(key)
        elif key in training_fields:
            training_keys.append(key)
        else:
            raise ValueError(f"method '{method}' declares search key '{key}', which is neither a field of its "
                             f"Config ({', '.join(sorted(own)) or 'none'}) nor a training field")
    return method_keys, training_keys


def rng_for(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def sample_configs(space: dict[str, Distribution], method_config: dict, training: dict, n: int, max_epochs: int,
                   seed_parts: tuple) -> list[dict[str, Any]]:
    """``n`` configurations of ``space`` (dicts of the searched keys only). The
    first is the recipe itself (with epochs capped at ``max_epochs``), so the
    search can always fall back on it; the others are sampled."""
    recipe = {**training, **method_config}
    first = {k: recipe[k] for k in space}
    if "epochs" in space:
        first["epochs"] = max(1, min(int(recipe["epochs"]), max_epochs))
    out = [first]
    for i in range(1, n):
        rng = rng_for("search", *seed_parts, i)
        out.append({k: sample_value(dist, rng, recipe[k], max_epochs) for k, dist in space.items()})
    return out
