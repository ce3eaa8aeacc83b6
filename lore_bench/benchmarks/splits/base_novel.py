"""CoCoOp's base-to-novel class split (Zhou et al., CVPR 2022).

The rule, as released (KaiyangZhou/CoOp ``datasets/oxford_pets.py``,
``OxfordPets.subsample_classes``, commit ff61507; every CoOp dataset calls it):
the label ids present in the training split, sorted; the first
``ceil(n / 2)`` are the base classes, the rest the novel ones; each group is
relabelled 0..m-1 in that order. The few-shot sample is drawn over all classes
first and then restricted to the base classes, as the release does (few-shot
files are written before ``subsample_classes`` runs).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..base import ImageSplit

HALVES = ("base", "novel")


def base_novel_labels(labels: Sequence[int]) -> dict[str, list[int]]:
    """{"base": the first ceil(n/2) sorted label ids, "novel": the rest}."""
    ids = sorted({int(y) for y in labels})
    m = math.ceil(len(ids) / 2)
    return {"base": ids[:m], "novel": ids[m:]}


def restrict(split: ImageSplit, indices: Sequence[int], classes: Sequence[int]) -> tuple[ImageSplit, np.ndarray]:
    """The items of ``split`` at ``indices`` whose label is in ``classes``,
    relabelled to their position in ``classes``; also the kept indices."""
    idx = np.asarray(indices, dtype=np.int64)
    relabel = {int(c): i for i, c in enumerate(classes)}
    keep = idx[np.isin(split.labels[idx], list(relabel))]
    part = split.subset(keep)
    part.labels = np.asarray([relabel[int(y)] for y in part.labels], dtype=np.int64)
    return part, keep
