"""``--set key.path=value`` overrides of a suite: parsed (the value is YAML,
read with the same bounds as a suite file) and applied to the loaded data.
A mistake is reported against the ``--set`` text, never against a line of
the suite it happens to land near."""
from __future__ import annotations

import copy
from typing import Any

import yaml

from ..errors import describe
from .checks import SuiteError
from .yaml_lines import load_with_lines

EXAMPLE = "--set training.epochs=2 (the value is YAML: --set protocol.seeds=[1,2])"


def _error(text: str, message: str, fix: str = f"write it as key.path=value, e.g. {EXAMPLE}") -> SuiteError:
    return SuiteError(f"--set '{text}'", None, "", message, fix)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], parsed value)."""
    if "=" not in text:
        raise _error(text, "expected key.path=value, found no '='")
    key, raw = text.split("=", 1)
    keys = [k.strip() for k in key.split(".")]
    if not key.strip():
        raise _error(text, "the key path before '=' is empty")
    if not all(keys):
        raise _error(text, f"the key path '{key}' has an empty part", "separate keys with single dots: training.epochs=2")
    if not raw.strip():
        return keys, None
    try:
        value, _ = load_with_lines(raw, "--set")
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise _error(text, f"the value '{raw}' is not valid YAML ({problem})",
                     "close the bracket or quote, or quote a plain string: --set 'key=\"text\"'") from None
    return keys, value


def apply_overrides(data: dict, overrides: list[str]) -> tuple[dict, dict[tuple, str]]:
    """The data with every override applied, and which key path each override set."""
    data = copy.deepcopy(data)
    sources: dict[tuple, str] = {}
    for text in overrides:
        keys, value = parse_override(text)
        node: Any = data
        path: list = []
        for depth, k in enumerate(keys):
            key = _index(node, k, keys[:depth], text) if isinstance(node, list) else k
            path.append(key)
            if depth == len(keys) - 1:
                node[key] = value
            else:
                node = _child(node, key, keys[: depth + 1], text)
        sources[tuple(path)] = text
    return data, sources


def _child(node: Any, key: Any, path: list[str], text: str) -> Any:
    """``node[key]``, a mapping or list to descend into (a missing or null one becomes {})."""
    child = node[key] if isinstance(node, list) else node.get(key)
    if child is None:
        child = node[key] = {}
    if not isinstance(child, (dict, list)):
        raise _error(text, f"'{'.'.join(path)}' is {describe(child)}, not a mapping, so nothing can be set inside it",
                     f"set it whole: --set {'.'.join(path)}=VALUE")
    return child


def _index(node: list, key: str, parent: list[str], text: str) -> int:
    where = ".".join(parent) or "(top level)"
    if key.isdigit() and int(key) < len(node):
        return int(key)
    positions = f"its positions are 0..{len(node) - 1}" if node else "it is empty"
    raise _error(text, f"'{where}' is a list; '{key}' is not a position in it ({positions})",
                 f"set the whole list: --set {where}=[...]")
