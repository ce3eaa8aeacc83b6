"""Named recipes: where a method's default values come from.

- ``authors``: the released code and configs of the method, quirks included (what
  produced the published numbers), as far as the engine can run them;
- ``paper``: the values the paper's text states; what it leaves unsaid comes from
  ``lore_bench``;
- ``lore_bench`` (the default): the released values with the release's defects
  corrected (docs/methods.md and docs/lore.md list, per method, what differs).

A method's hooks ``default_config(dataset, shots, recipe, backbone=, protocol=)``
and ``default_training(...)`` return the chosen recipe's values;
:func:`published_defaults` calls them for any method, also third-party ones
written before recipes existed (their hooks take only ``dataset, shots``).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

RECIPES: tuple[str, ...] = ("authors", "paper", "lore_bench")
DEFAULT_RECIPE = "lore_bench"


class UnknownRecipeError(ValueError):
    """A recipe name that is not one of :data:`RECIPES`."""


def check_recipe(recipe: str) -> str:
    if recipe not in RECIPES:
        raise UnknownRecipeError(f"recipe '{recipe}' is not one of: {', '.join(RECIPES)}")
    return recipe


def call_hook(hook: Callable[..., dict[str, Any]], dataset: str, shots: int, **context: Any) -> dict[str, Any]:
    """``hook(dataset, shots, **context)`` with only the context the hook accepts."""
    params = inspect.signature(hook).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(hook(dataset, shots, **context))
    return dict(hook(dataset, shots, **{k: v for k, v in context.items() if k in params}))


def published_defaults(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, backbone: Any = None,
                       protocol: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(method-config defaults, training defaults) of ``cls`` for one trial under ``recipe``.

    A hook that takes no ``recipe`` has one set of defaults: it serves every recipe."""
    context = {"recipe": check_recipe(recipe), "backbone": backbone, "protocol": protocol}
    return call_hook(cls.default_config, dataset, shots, **context), call_hook(cls.default_training, dataset, shots, **context)
