"""YAML -> plain Python data plus the line of every key, for errors that point
at ``file:line``. Parsing is safe (``yaml.SafeLoader`` only)."""
from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple  # a key path like ("methods", "coop", "n_ctx")


def load_with_lines(text: str, filename: str) -> tuple[Any, dict[Path_, int]]:
    loader = yaml.SafeLoader(text)
    loader.name = filename
    lines: dict[Path_, int] = {}
    try:
        node = loader.get_single_node()
        return (None if node is None else _convert(loader, node, (), lines)), lines
    finally:
        loader.dispose()


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.YAMLError(f"line {key_node.start_mark.line + 1}: keys must be plain values")
            key = loader.construct_object(key_node)
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _convert(loader, value_node, path + (key,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, v, path + (i,), lines) for i, v in enumerate(node.value)]
    return loader.construct_object(node)  # a scalar, typed by the safe loader's resolver


def line_of(lines: dict[Path_, int], path: Path_) -> int | None:
    """Line of ``path`` or of its nearest ancestor that has one."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())
