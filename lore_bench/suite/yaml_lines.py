"""YAML -> plain Python data plus the line of every key, for errors that point
at ``file:line``. Parsing is safe (``yaml.SafeLoader`` only) and bounded: a
suite is small, so a file whose aliases expand to more than :data:`MAX_NODES`
values (a "billion laughs" file), that nests deeper than :data:`MAX_DEPTH` or
whose alias refers to itself fails at once with the line, instead of hanging."""
from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple  # a key path like ("methods", "coop", "n_ctx")

MAX_NODES = 20_000  # values after alias expansion; the largest shipped suite has a few hundred
MAX_DEPTH = 40  # nesting levels; suites use fewer than 8


class YamlShapeError(yaml.YAMLError):
    """Valid YAML that is not a plausible suite (too large once expanded, a
    non-scalar or duplicate key); ``line`` is where the problem is."""

    def __init__(self, problem: str, line: int | None, fix: str = "a suite is a short mapping; see suite.yaml"):
        super().__init__(problem)
        self.problem, self.line, self.fix = problem, line, fix


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader with a nesting limit while composing (its composer
    recurses once per level: thousands of '[' would otherwise hit Python's
    recursion limit slowly)."""

    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise YamlShapeError(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load_with_lines(text: str, filename: str) -> tuple[Any, dict[Path_, int]]:
    loader = _BoundedLoader(text)
    loader.name = filename
    lines: dict[Path_, int] = {}
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return None, lines
            return _Converter(loader, lines).convert(node, (), ()), lines
        except RecursionError:  # a merge key (<<) that refers to its own mapping
            raise YamlShapeError("a merge key (<<) refers to the mapping that contains it", None) from None
    finally:
        loader.dispose()


class _Converter:
    """Nodes -> Python values, counting every value it produces (an alias
    counts again each time it is used) so expansion is bounded."""

    def __init__(self, loader: yaml.SafeLoader, lines: dict[Path_, int]):
        self.loader, self.lines, self.count = loader, lines, 0

    def convert(self, node: yaml.Node, path: Path_, parents: tuple) -> Any:
        line = node.start_mark.line + 1
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlShapeError(f"the file holds more than {MAX_NODES} values once its aliases are "
                                 "expanded (aliases of aliases?); a suite needs a few hundred", self.lines.get(path[:1]))
        if id(node) in parents:
            raise YamlShapeError("an alias refers to the mapping or list that contains it", line)
        if len(parents) >= MAX_DEPTH:
            raise YamlShapeError(f"nested deeper than {MAX_DEPTH} levels", line)
        self.lines.setdefault(path, line)
        inner = parents + (id(node),)
        if isinstance(node, yaml.MappingNode):
            self._check_keys(node)
            self.loader.flatten_mapping(node)  # YAML merge keys (<<: *defaults) come first, own keys win
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):  # brought in by a merge
                    raise YamlShapeError("keys must be plain values, not lists or mappings", line)
                key = self.loader.construct_object(key_node)
                self.lines[path + (key,)] = key_node.start_mark.line + 1
                out[key] = self.convert(value_node, path + (key,), inner)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(v, path + (i,), inner) for i, v in enumerate(node.value)]
        return self.loader.construct_object(node)  # a scalar, typed by the safe loader's resolver

    def _check_keys(self, node: yaml.MappingNode) -> None:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlShapeError("keys must be plain values, not lists or mappings", line)
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.loader.construct_object(key_node)
            if key in seen:
                raise YamlShapeError(f"key '{key}' appears twice in this mapping (first on line {seen[key]})", line,
                                     "keep one of them (YAML would silently use the last)")
            seen[key] = line


def line_of(lines: dict[Path_, int], path: Path_) -> int | None:
    """Line of ``path`` or of its nearest ancestor that has one."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())
