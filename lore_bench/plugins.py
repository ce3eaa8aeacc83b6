"""The one registry class behind every extension point (methods, protocols,
datasets, backbones, report tables).

Built-ins register by decorator when their package's modules are imported
(on first use, so importing lore_bench stays cheap); third parties by an entry
point of the registry's group or a lazy ``"package.module:Attr"`` entry.
Unknown names get a "did you mean"; a second, different object under a
registered name is an error; with ``base`` set, only subclasses are accepted.
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
    matches = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.5)
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
    """Name -> object for one kind of plugin.

    ``package``: its built-in modules are imported on first use (modules whose
    name starts with ``_`` are private helpers and skipped).
    ``entry_point_group``: third-party entry points, loaded when first asked for.
    ``base``: registered classes must subclass it.
    """

    def __init__(self, kind: str, package: str | None, entry_point_group: str | None = None,
                 base: type | None = None):
        self.kind = kind
        self.package = package
        self.entry_point_group = entry_point_group
        self.base = base
        self._items: dict[str, T] = {}
        self._lazy: dict[str, Callable[[], T]] = {}
        self._loaded = False

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            key = name or getattr(obj, "name", None)
            if not key:
                raise ValueError(f"{self.kind} {obj!r} needs a name (a class attribute 'name')")
            self._check_base(key, obj)
            existing = self._items.get(key)
            if existing is not None and existing is not obj:
                # Re-import of the same module (e.g. a plugin loaded twice) is fine;
                # two different objects under one name is a real conflict.
                if getattr(existing, "__qualname__", None) != getattr(obj, "__qualname__", None):
                    raise ValueError(f"{self.kind} '{key}' is registered twice: {_where(existing)} and {_where(obj)}")
            self._items[key] = obj
            self._lazy.pop(key, None)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> T:
        return self.register(name)(obj)

    def add_lazy(self, name: str, path: str) -> None:
        """Register ``"package.module:Attr"`` under ``name``, imported on first ``get``."""
        if name in self._items or name in self._lazy:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._lazy[name] = lambda: load_object(path)

    def _check_base(self, key: str, obj: Any) -> None:
        if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise TypeError(f"{self.kind} '{key}' ({_where(obj)}) must subclass {self.base.__module__}."
                            f"{self.base.__qualname__}")

    def _load_builtins(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.package:
            package = importlib.import_module(self.package)
            for info in pkgutil.iter_modules(package.__path__):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{self.package}.{info.name}")
        if self.entry_point_group:
            for ep in metadata.entry_points(group=self.entry_point_group):
                if ep.name not in self._items and ep.name not in self._lazy:
                    self._lazy[ep.name] = ep.load

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted({*self._items, *self._lazy})

    def get(self, name: str) -> T:
        self._load_builtins()
        if name not in self._items and name in self._lazy:
            obj = self._lazy.pop(name)()
            if name not in self._items:  # loading a module may register it by decorator
                self.add(name, obj)
        if name not in self._items:
            raise UnknownNameError(self.kind, name, self.names())
        return self._items[name]

    def items(self) -> list[tuple[str, T]]:
        return [(name, self.get(name)) for name in self.names()]

    def __contains__(self, name: str) -> bool:
        self._load_builtins()
        return name in self._items or name in self._lazy


def _where(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
