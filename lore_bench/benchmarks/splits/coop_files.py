"""CoOp's split files (``split_zhou_<Dataset>.json``).

Format: ``{"train": [[relpath, label, classname], ...], "val": [...], "test": [...]}``
with 0-based labels and paths relative to the dataset's image folder. The LORE
protocol trains on CoOp's train + val and tests on CoOp's test.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..base import DatasetMissingError

PARTS = {"train": ("train", "val"), "test": ("test",)}


class SplitFileError(DatasetMissingError):
    """A split file that exists but does not have CoOp's format (so the split
    the dataset needs is, in effect, missing)."""


def read_coop_split(path: Path, rename: dict[str, str] | None = None):
    """-> (classnames by label, {"train"|"test": (relpaths, labels)})."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise SplitFileError(f"{path}: not valid JSON ({err})") from err
    names: dict[int, str] = {}
    items: dict[str, tuple[list[str], np.ndarray]] = {}
    for split, parts in PARTS.items():
        relpaths: list[str] = []
        labels: list[int] = []
        for part in parts:
            if part not in data:
                raise SplitFileError(f"{path}: no '{part}' list (expected keys train, val, test)")
            for entry in data[part]:
                if not (isinstance(entry, list) and len(entry) == 3):
                    raise SplitFileError(f"{path}: '{part}' entries must be [relpath, label, classname], got {entry!r}")
                relpath, label, classname = entry[0], int(entry[1]), str(entry[2])
                if names.setdefault(label, classname) != classname:
                    raise SplitFileError(f"{path}: label {label} is both '{names[label]}' and '{classname}'")
                relpaths.append(str(relpath).replace("\\", "/"))
                labels.append(label)
        items[split] = (relpaths, np.asarray(labels, dtype=np.int64))
    if sorted(names) != list(range(len(names))):
        raise SplitFileError(f"{path}: labels are not 0..{len(names) - 1}")
    rename = rename or {}
    classnames = [rename.get(names[i], names[i]) for i in range(len(names))]
    return classnames, items
