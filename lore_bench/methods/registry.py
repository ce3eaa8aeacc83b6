"""The method registry: built-ins register with ``@register_method``; third
parties through the entry-point group ``lore_bench.methods`` or a ``plugin:``
path in a suite (resolved by :func:`resolve_method`)."""
from __future__ import annotations

from ..plugins import Registry, load_object
from .base import Method

METHODS: Registry[type[Method]] = Registry("method", "lore_bench.methods", "lore_bench.methods", base=Method)


def register_method(cls: type[Method]) -> type[Method]:
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} must set a class attribute 'name'")
    return METHODS.register(cls.name)(cls)


def resolve_method(name: str, plugin: str | None = None) -> type[Method]:
    """The Method class for a suite entry: a ``plugin`` path wins over the registry."""
    if plugin:
        cls = load_object(plugin)
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise TypeError(f"plugin '{plugin}' is not a lore_bench Method subclass")
        return cls
    return METHODS.get(name)
