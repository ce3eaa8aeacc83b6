"""Which classes of a transfer target are classes of the training dataset.

A target shares the source's classes when it declares so (``class_source``, e.g.
the ImageNet variants, with ``source_class_indices()``) or when both list the
same class names (sklearn digits and MNIST). Then any trained model scores the
target over those classes; otherwise only a method that can be re-pointed at
new class names can (``Method.scores_unseen_classes``).
"""
from __future__ import annotations

from .base import DATASETS, Dataset


def shares_classes(source: str, target: str) -> bool:
    """Known without reading any file: declared, or two fixed, equal class lists."""
    s, t = DATASETS.get(source), DATASETS.get(target)
    if getattr(t, "class_source", None) == source:
        return True
    fixed = [isinstance(vars_of(c).get("classnames"), (list, tuple)) for c in (s, t)]
    return all(fixed) and list(s.classnames) == list(t.classnames)


def source_columns(source: Dataset, target: Dataset) -> list[int] | None:
    """Per target label, the source label it is; None when the classes differ."""
    if getattr(target, "class_source", None) == source.name:
        return list(target.source_class_indices())
    if list(source.classnames) == list(target.classnames):
        return list(range(len(source.classnames)))
    return None


def vars_of(cls: type) -> dict:
    """Class attributes along the MRO (a property is not a fixed list)."""
    out: dict = {}
    for klass in reversed(cls.__mro__):
        out.update(vars(klass))
    return out
