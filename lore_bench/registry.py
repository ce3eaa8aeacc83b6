"""A small generic registry: built-ins by decorator, third parties by entry point
or by a ``"package.module:Attr"`` path, with "did you mean" errors.

Used for methods, datasets and backbones so that each kind of plugin is found
the same way.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from importlib import metadata
from typing import Any, Callable, Generic, Iterable, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that is not registered; the message suggests the nearest names."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind, self.name = kind, name
        self.known = sorted(known)
        self.suggestion = nearest(name, self.known)
        hint = f" Did you mean '{self.suggestion}'?" if self.suggestion else ""
        super().__init__(f"unknown {kind} '{name}'.{hint} Known: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return self.args[0]


def nearest(name: str, known: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return matches[0] if matches else None


def load_object(path: str) -> Any:
    """Import ``"package.module:Attr"`` (or ``package.module.Attr``)."""
    if ":" in path:
        module_name, attr = path.split(":", 1)
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"plugin path '{path}' must look like 'package.module:ClassName'")
    module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Name -> object. Built-in modules of ``package`` are imported on first use,
    entry points of ``group`` are loaded lazily, so importing lore_bench stays cheap."""

    def __init__(self, kind: str, package: str, entry_point_group: str | None = None):
        self.kind = kind
        self.package = package
        self.entry_point_group = entry_point_group
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            key = name or getattr(obj, "name")
            existing = self._items.get(key)
            if existing is not None and existing is not obj:
                # Re-import of the same module (e.g. a plugin loaded twice) is fine;
                # two different objects under one name is a real conflict.
                if getattr(existing, "__qualname__", None) != getattr(obj, "__qualname__", None):
                    raise ValueError(f"{self.kind} '{key}' is registered twice")
            self._items[key] = obj
            return obj

        return decorator

    def add(self, name: str, obj: T) -> T:
        return self.register(name)(obj)

    def _load_builtins(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")
        if self.entry_point_group:
            for ep in metadata.entry_points(group=self.entry_point_group):
                if ep.name not in self._items:
                    self.add(ep.name, ep.load())

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(self._items)

    def get(self, name: str) -> T:
        self._load_builtins()
        if name not in self._items:
            raise UnknownNameError(self.kind, name, self._items)
        return self._items[name]

    def __contains__(self, name: str) -> bool:
        self._load_builtins()
        return name in self._items
