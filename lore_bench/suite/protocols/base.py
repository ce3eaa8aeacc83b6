"""The Protocol plugin interface and its registry.

A protocol owns the keys of the suite's ``protocol:`` section beyond the
common ``name`` / ``shots`` / ``seeds`` / ``plugin`` (its ``Config``: unknown keys
are rejected, and only these keys reach the trial_id), turns a suite into
trial specs (``expand``) and runs one of its trials (``run``) with the
engine's primitives.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

from ...methods.base import ConfigError, EmptyConfig
from ...plugins import Registry, load_object, nearest
from ..spec import TrialSpec

#: Keys of the suite's ``protocol:`` section that every protocol shares.
COMMON_KEYS = ("name", "plugin", "shots", "seeds")


@dataclass
class ProtocolInputs:
    """What the runner hands a protocol for one trial."""

    spec: TrialSpec
    backbone: Any  # a built, frozen lore_bench Backbone on the trial's device
    device: Any  # torch.device
    checkpoint_dir: str | Path | None
    on_epoch: Callable[[dict], None] | None = None
    #: The trial's final checkpoint is read after it (a White Box) or kept on request.
    keep_checkpoint: bool = True


@dataclass(frozen=True)
class EarlyStopping:
    """How the orchestrator may stop a trial early (a search trial of the tuned
    protocol): trials with the same ``group`` compete under one scheduler
    (``tune.schedulers``: asha | median_stopping | fifo) on ``metric`` (higher is
    better), reported once per epoch (``time_attr``). Plain data: protocols name
    a scheduler, only ``suite/orchestrate`` builds it."""

    group: str
    scheduler: str = "asha"
    metric: str = "val_top1"
    max_t: int = 10
    grace_period: int = 1
    reduction_factor: int = 2
    time_attr: str = "epoch"


class Protocol:
    """Base class of every protocol (built-in or plugin)."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = EmptyConfig
    #: False for a protocol that only the expansion assigns (zero_shot).
    selectable: ClassVar[bool] = True

    @classmethod
    def dataset_names(cls) -> list[str]:
        """The names the suite's ``datasets:`` may list for this protocol."""
        from ...benchmarks import DATASETS

        return DATASETS.names()

    @classmethod
    def check(cls, cfg: Any) -> None:
        """Cross-field checks of a parsed Config; raise ``ConfigError(message, field)``."""

    @classmethod
    def expand(cls, suite) -> list[TrialSpec]:
        raise NotImplementedError

    @classmethod
    def notes(cls, suite) -> list[str]:
        """Lines the CLI prints after expanding ``suite`` (methods a protocol skipped, and why)."""
        return []

    @classmethod
    def dependencies(cls, spec: TrialSpec) -> list[TrialSpec]:
        """Trials that must be stored (with their checkpoint) before ``spec`` runs."""
        return []

    @classmethod
    def early_stopping(cls, spec: TrialSpec) -> EarlyStopping | None:
        """The scheduler ``spec`` runs under, if it may be stopped early (default: never)."""
        return None

    @classmethod
    def run(cls, inputs: ProtocolInputs):
        """Run one trial; returns an engine ``TrialOutput`` (rows and epoch curves)."""
        raise NotImplementedError


PROTOCOLS: Registry[type[Protocol]] = Registry("protocol", "lore_bench.suite.protocols", "lore_bench.protocols",
                                               base=Protocol)


def register_protocol(cls: type[Protocol]) -> type[Protocol]:
    return PROTOCOLS.register(cls.name)(cls)


def resolve_protocol(name: str, plugin: str | None = None) -> type[Protocol]:
    if plugin:
        cls = load_object(plugin)
        if not (isinstance(cls, type) and issubclass(cls, Protocol)):
            raise TypeError(f"plugin '{plugin}' is not a lore_bench Protocol subclass")
        return cls
    return PROTOCOLS.get(name)


def parse_config(cls: type[Protocol], values: dict[str, Any]) -> Any:
    """The protocol's Config from the suite's keys: unknown keys, wrong types and
    values outside a field's ``metadata`` range are a ``ConfigError`` naming the key."""
    fields = {f.name: f for f in dataclasses.fields(cls.Config)}
    hints = typing.get_type_hints(cls.Config)
    for key, value in values.items():
        if key not in fields:
            near = nearest(str(key), fields)
            raise ConfigError(f"protocol '{cls.name}' has no key '{key}'" + (f"; did you mean '{near}'?" if near else "")
                              + f" Its keys: {', '.join(list(COMMON_KEYS) + sorted(fields)) }", field=key)
        _check_value(key, value, hints[key], fields[key].metadata)
    cfg = cls.Config(**values)
    cls.check(cfg)
    return cfg


def _check_value(key: str, value: Any, hint: Any, metadata) -> None:
    allowed = typing.get_args(hint) or (hint,)
    allowed = tuple(typing.get_origin(t) or t for t in allowed)
    ok = any(_is_instance(value, t) for t in allowed)
    if not ok:
        names = " or ".join(getattr(t, "__name__", str(t)) for t in allowed)
        raise ConfigError(f"expected {names}, got {type(value).__name__} ({value!r})", field=key)
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"expected a finite number, got {value!r}", field=key)
    if "min" in metadata and isinstance(value, (int, float)) and value < metadata["min"]:
        raise ConfigError(f"must be >= {metadata['min']}, got {value!r}", field=key)
    if "choices" in metadata and value not in metadata["choices"]:
        near = nearest(str(value), metadata["choices"])
        raise ConfigError(f"unknown value '{value}'" + (f"; did you mean '{near}'?" if near else "")
                          + f" Known: {', '.join(metadata['choices'])}", field=key)


def _is_instance(value: Any, t: Any) -> bool:
    if t is type(None):
        return value is None
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, t)
