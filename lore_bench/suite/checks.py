"""Checks of suite values that report ``file:line`` (or the ``--set`` that gave
the value), the field, what was expected, the nearest valid name and a fix."""
from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Any

from ..errors import UserError, describe, did_you_mean
from .yaml_lines import line_of


class SuiteError(UserError):
    """A mistake in a suite file or in a ``--set`` override of it."""

    def __init__(self, file: str, line: int | None, field: str, message: str, fix: str | None = None):
        self.file = file
        super().__init__(file, message, field=field, line=line, fix=fix)


@dataclass(frozen=True)
class Range:
    """Allowed numbers: ``low`` (inclusive unless ``low_open``) up to ``high`` (inclusive)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def nearest(self, value: float) -> float | None:
        """The closest allowed value to an out-of-range one (None at an open bound)."""
        if self.low is not None and value < self.low:
            return None if self.low_open else self.low
        if self.high is not None and value > self.high:
            return None if self.high_open else self.high
        return None

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{_num(self.low)}, {_num(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        return f"{'<' if self.high_open else '<='} {_num(self.high)}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


AT_LEAST_0, AT_LEAST_1, POSITIVE = Range(0), Range(1), Range(0, low_open=True)

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true/false", list: "a list",
               dict: "a mapping", type(None): "null"}


def is_type(value: Any, expected: Any) -> bool:
    types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in types:
        return False
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, types)


def type_name(expected: Any) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)


class Checker:
    """Validation helpers that know the file, the line of every key and which
    key paths a ``--set`` override gave (an error there names the override)."""

    def __init__(self, file: str, lines: dict, overridden: dict[tuple, str] | None = None):
        self.file, self.lines, self.overridden = file, lines, overridden or {}

    def fail(self, path: tuple, message: str, fix: str | None = None) -> None:
        dotted = ".".join(str(p) for p in path) or "(top level)"
        source = self._override_of(path)
        if source is not None:
            raise SuiteError(f"--set '{source}'", None, dotted, message, fix)
        raise SuiteError(self.file, line_of(self.lines, path), dotted, message, fix)

    def _override_of(self, path: tuple) -> str | None:
        """The last ``--set`` whose key path is ``path``, inside it or around it."""
        if not path:
            return None
        hits = [text for keys, text in self.overridden.items()
                if keys[: len(path)] == path or path[: len(keys)] == keys]
        return hits[-1] if hits else None

    def keys(self, data: dict, allowed: dict, path: tuple) -> None:
        """Every key known (with a did-you-mean otherwise) and of its type."""
        for key, value in data.items():
            if key not in allowed:
                self.fail(path + (key,), f"unknown key '{key}'" + did_you_mean(key, allowed),
                          f"allowed keys here: {', '.join(sorted(allowed))}")
            expected = allowed[key]
            if expected is not None and not is_type(value, expected):
                self.fail(path + (key,), f"expected {type_name(expected)}, got {describe(value)}",
                          _type_fix(expected, value))

    def mapping(self, value: Any, path: tuple, what: str, example: str) -> dict:
        """``value`` as a mapping (null counts as empty), or an error that says a mapping is expected."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping of {what}, got {describe(value)}", f"write it as {example}")
        return value

    def non_empty_list(self, value: Any, path: tuple, what: str, example: str) -> list:
        if not isinstance(value, list):
            self.fail(path, f"expected a list of {what}, got {describe(value)}", f"write it as {example}")
        if not value:
            self.fail(path, f"the list of {what} is empty; at least one is needed", f"write it as {example}")
        return value

    def number(self, value: Any, path: tuple, allowed: Range, integer: bool = False) -> None:
        kind = "an integer" if integer else "a number"
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type:
            fix = "write the number without quotes" if isinstance(value, str) else f"write {kind} {allowed}"
            self.fail(path, f"expected {kind} {allowed}, got {describe(value)}", fix)
        if not math.isfinite(value) or value not in allowed:
            near = allowed.nearest(value) if math.isfinite(value) else None
            self.fail(path, f"expected {kind} {allowed}, got {value!r}",
                      f"nearest valid value: {_num(near)}" if near is not None else f"use a value {allowed}")

    def numbers(self, data: dict, ranges: dict[str, Range], path: tuple, integers: set[str]) -> None:
        for key, allowed in ranges.items():
            if data.get(key) is not None:
                self.number(data[key], path + (key,), allowed, integer=key in integers)

    def int_list(self, values: Any, path: tuple, minimum: int, what: str, example: str) -> list[int]:
        self.non_empty_list(values, path, what, example)
        for i, v in enumerate(values):
            self.number(v, path + (i,), Range(minimum), integer=True)
        return list(values)

    def name_in(self, value: Any, known: list[str], kind: str, path: tuple, fix: str) -> None:
        if not isinstance(value, str):
            self.fail(path, f"expected a {kind} name, got {describe(value)}", (fix + " Known: " + ", ".join(known)).strip())
        if value not in known:
            self.fail(path, f"unknown {kind} '{value}'" + did_you_mean(value, known),
                      (fix + f" Known: {', '.join(known)}").strip())

    def plain(self, value: Any, path: tuple = ()) -> None:
        """Only what JSON can hold: string keys, finite numbers, no dates or
        binary (a trial spec is canonical JSON)."""
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    self.fail(path + (key,), f"keys must be names (strings), got {describe(key)}",
                              f"quote the key: '{key}':")
                self.plain(item, path + (key,))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.plain(item, path + (i,))
        elif isinstance(value, (datetime.date, bytes)):
            self.fail(path, f"expected a plain value, got {describe(value)}", "quote it to make it a string")
        elif isinstance(value, float) and not math.isfinite(value):
            self.fail(path, f"expected a finite number, got {value!r}", "write an ordinary number, e.g. 0.01")


def _type_fix(expected: Any, value: Any) -> str | None:
    types = expected if isinstance(expected, tuple) else (expected,)
    if dict in types:
        return "write a mapping, e.g. {key: value} (or {} for none)"
    if list in types:
        return "write a list, e.g. [a, b]"
    if bool in types:
        return "write true or false"
    if int in types and float not in types:
        return "write a whole number without quotes, e.g. 3"
    if float in types:
        return "write a number without quotes, e.g. 0.01"
    if str in types and value is not None:
        return "quote the value to make it a string"
    return None
