"""Suite -> TrialSpecs through the suite's protocol, and the ``--only`` filters."""
from __future__ import annotations

from typing import Iterable

from ..errors import UserError, did_you_mean
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


def expansion_notes(suite: Suite) -> list[str]:
    """What the suite's protocol says about its expansion (methods it skipped, and why)."""
    return list(resolve_protocol(suite.protocol, suite.protocol_plugin).notes(suite))


def expand_all(suites: list[Suite]) -> list[TrialSpec]:
    """The trials of a suite and the suites it includes, each trial once (as the
    first suite that asks for it expands it)."""
    return _dedupe(spec for suite in suites for spec in expand(suite))


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
