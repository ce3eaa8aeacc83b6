"""Base class of the paper's datasets, which users download and prepare themselves.

A prepared dataset lives in one folder under the data root (``$LORE_BENCH_DATA``
or the suite's ``data_root``). A subclass only says where its files are and how
to read its split lists into an :class:`Index`; this class turns a missing piece
into a :class:`DatasetMissingError` that names the file, the expected layout and
where the data comes from, warns when counts differ from the paper's table, and
answers ``doctor()``. Nothing here ever makes up a split.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from .base import DATA_ROOT_ENV, Dataset, DatasetMissingError, DoctorReport, ImageSplit, broken_detail, undecodable
from .splits.hashed import check_split_name, file_split


class CountMismatchWarning(UserWarning):
    """A prepared split's size differs from the LORE paper's table."""


@dataclass
class Index:
    """What a dataset's files say: class names and, per split, image paths
    (relative to ``image_dir``) with labels."""

    classnames: list[str]
    image_dir: Path
    items: dict[str, tuple[list[str], np.ndarray]]


def clean_classname(name: str) -> str:
    """Folder and split-file names -> words: underscores to spaces, one space."""
    return re.sub(r"\s+", " ", name.replace("_", " ")).strip()


class PreparedDataset(Dataset):
    #: folder under the data root
    folder: ClassVar[str]
    #: the paper's counts (docs/paper/protocols.md), checked on load
    num_classes: ClassVar[int]
    expected_counts: ClassVar[dict[str, int]]
    #: the expected tree under <data root>/<folder>, shown in errors and docs
    layout: ClassVar[str]
    #: where the files come from
    source: ClassVar[str]
    #: False where images live in array files (CIFAR): doctor() then checks no image paths
    image_files: ClassVar[bool] = True

    def __init__(self, root=None):
        super().__init__(root)
        self._index: Index | None = None

    # -- what subclasses implement -------------------------------------------
    def read_index(self) -> Index:
        raise NotImplementedError

    # -- shared machinery -----------------------------------------------------
    @property
    def dataset_dir(self) -> Path:
        return self.root / self.folder

    def missing(self, piece: Path | str, why: str = "not found") -> DatasetMissingError:
        return DatasetMissingError(
            f"{self.name}: {piece} {why}.\n"
            f"Expected under the data root {self.root} (set ${DATA_ROOT_ENV} or the suite's `data_root`):\n"
            f"{self.layout.rstrip()}\n"
            f"Where to get it: {self.source}\n"
            f"See docs/datasets.md; `lore-bench data doctor {self.name}` checks the result."
        )

    def require(self, path: Path) -> Path:
        if not path.exists():
            raise self.missing(path)
        return path

    def index(self) -> Index:
        if self._index is None:
            self.require(self.dataset_dir)
            self._index = self.read_index()
        return self._index

    @property
    def classnames(self) -> list[str]:  # type: ignore[override]  # read from the data
        return self.index().classnames

    def load_split(self, split: str) -> ImageSplit:
        check_split_name(self.name, split)
        index = self.index()
        relpaths, labels = index.items[split]
        self.check_count(split, len(relpaths))
        return file_split(index.image_dir, relpaths, labels)

    def check_count(self, split: str, count: int) -> None:
        expected = self.expected_counts.get(split)
        if expected is not None and expected != count:
            warnings.warn(
                f"{self.name}: the {split} split has {count} images, the LORE paper's table says {expected}",
                CountMismatchWarning, stacklevel=3,
            )

    def doctor(self, deep: bool = False) -> DoctorReport:
        """found: split lists readable, every image present and a sample of them
        (all with ``deep``) decodes (detail warns when counts differ from the
        paper); partial: the folder exists but a split list or images are
        missing; broken: images are there but do not decode; missing: no folder."""
        try:
            index = self.index()
        except DatasetMissingError as err:
            status = "partial" if self.dataset_dir.exists() else "missing"
            return DoctorReport(self.name, status, detail=err.message)
        counts = {split: len(paths) for split, (paths, _) in index.items.items()}
        problems, broken = [], []
        for split, (paths, labels) in index.items.items() if self.image_files else ():
            absent = [p for p in paths if not (index.image_dir / p).is_file()]
            if absent:
                problems.append(f"{len(absent)} of {len(paths)} {split} images missing under {index.image_dir} "
                                f"(first: {absent[0]})")
            gone = set(absent)
            present = [(p, label) for p, label in zip(paths, labels) if p not in gone]
            if present:
                files = file_split(index.image_dir, [p for p, _ in present], [label for _, label in present])
                broken += undecodable(files, split, deep)
        notes = [f"{split}: {counts.get(split)} images, the paper's table says {want}"
                 for split, want in self.expected_counts.items() if counts.get(split) != want]
        if len(index.classnames) != self.num_classes:
            notes.append(f"{len(index.classnames)} classes, the paper has {self.num_classes}")
        if problems:
            detail = "; ".join(problems + notes) + f"\nWhere to get it: {self.source}"
            if broken:
                detail += "\n" + broken_detail(broken, deep)
            return DoctorReport(self.name, "partial", counts, detail)
        if broken:
            return DoctorReport(self.name, "broken", counts, broken_detail(broken, deep) + f"\nWhere to get it: {self.source}")
        # usable; a split other than the paper's is worth a warning, not a refusal
        return DoctorReport(self.name, "found", counts, ("warning: " + "; ".join(notes)) if notes else "")
