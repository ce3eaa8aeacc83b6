"""Suite -> TrialSpecs through the suite's protocol, and the ``--only`` filters."""
from __future__ import annotations

from typing import Iterable

from ..methods.base import ConfigError
from .config import Suite, SuiteError
from .protocols import resolve_protocol
from .spec import TrialSpec

FILTER_KEYS = ("method", "dataset", "backbone", "shots", "seed", "protocol")


def expand(suite: Suite) -> list[TrialSpec]:
    protocol = resolve_protocol(suite.protocol, suite.protocol_plugin)
    try:
        specs = protocol.expand(suite)
    except ConfigError as err:
        field = f"protocol.{err.field}" if err.field else "protocol"
        raise SuiteError(suite.path, None, field, str(err)) from None
    if suite.protocol_plugin:
        from dataclasses import replace

        specs = [replace(s, protocol_plugin=suite.protocol_plugin) if s.protocol == suite.protocol else s
                 for s in specs]
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
