"""Dataset interface: what every benchmark dataset provides to the engine.

A dataset is registered under its suite name (``@DATASETS.register()``) and
builds :class:`ImageSplit` objects. Images come back as PIL images so the
backbone's own preprocessing (resize, crop, normalise) applies unchanged to
embedded arrays and to files on disk alike.
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Sequence

import numpy as np
from PIL import Image

from ..errors import DataError
from ..plugins import Registry


#: Environment variable naming the root under which users prepare datasets.
DATA_ROOT_ENV = "LORE_BENCH_DATA"


def default_data_root() -> Path:
    return Path(os.environ.get(DATA_ROOT_ENV, "~/lore_bench_data")).expanduser()


class DatasetMissingError(DataError):
    """Raised when a dataset (or a piece of it) is not prepared on this machine.
    The message says what is missing, where it was expected and where it comes from."""


class DataFileError(DataError):
    """A dataset file that is there but cannot be read or decoded; the message
    names the file and what is wrong with it."""


def open_rgb(path: str | Path) -> Image.Image:
    """The image file at ``path`` as RGB, decoded now (so a broken file fails here,
    as a :class:`DataFileError` naming it, not later inside a transform)."""
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except FileNotFoundError:
        raise DataFileError(f"image file not found: {path}") from None
    except OSError as err:
        if err.errno is not None:  # the file system said no (permissions, I/O error)
            raise DataFileError(f"cannot read {path}: {err.strerror}") from None
        raise DataFileError(f"cannot decode {path}: {_reason(err, path)}") from None
    except (SyntaxError, ValueError, Image.DecompressionBombError) as err:  # PIL's other decoder errors
        raise DataFileError(f"cannot decode {path}: {_reason(err, path)}") from None


def _reason(err: Exception, path) -> str:
    """PIL's message in words a user can act on, without the path it repeats."""
    text = str(err).replace(f"'{path}'", "").strip(" :") or type(err).__name__
    if "truncated" in text.lower():
        return f"truncated, the file ends early (an interrupted download or copy?) [{text}]"
    if "cannot identify image file" in text:
        return "not an image file PIL can read (corrupt, or not an image)"
    return text


@dataclass
class ImageSplit:
    """One split of a dataset.

    ``keys`` are stable identifiers (relative file paths, or ``"<source>:<index>"``
    for arrays) used by the few-shot sampler, so that sampling never depends on
    file-system listing order. ``load(i)`` returns an RGB PIL image.

    What the pixels are, for caches (``benchmarks.image_cache.content_fingerprint``):
    ``files[i]`` is the file item i is read from (``file_split`` sets it), and
    ``origin`` names everything else they come from (a digest of an in-memory
    array, the image cache's resize). A split with neither is never cached.
    """

    keys: list[str]
    labels: np.ndarray
    load: Callable[[int], Image.Image]
    files: list[str] | None = None
    origin: str = ""

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.keys) != len(self.labels):
            raise ValueError("keys and labels differ in length")
        if self.files is not None and len(self.files) != len(self.labels):
            raise ValueError("files and labels differ in length")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: Sequence[int]) -> "ImageSplit":
        idx = np.asarray(indices, dtype=np.int64)
        parent_load = self.load
        return ImageSplit(
            keys=[self.keys[i] for i in idx],
            labels=self.labels[idx],
            load=lambda i: parent_load(int(idx[i])),
            files=[self.files[i] for i in idx] if self.files is not None else None,
            origin=self.origin,
        )


def array_split(source: str, images: np.ndarray, labels: np.ndarray) -> ImageSplit:
    """An :class:`ImageSplit` over an in-memory uint8 array [N, H, W] or [N, H, W, 3]."""
    images = np.ascontiguousarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"{source}: images must be uint8, got {images.dtype}")

    def load(i: int) -> Image.Image:
        img = Image.fromarray(images[i])
        return img.convert("RGB") if img.mode != "RGB" else img

    # The pixels themselves name the split's content (CRC-32: ~1 GB/s, once per load).
    origin = f"array:{zlib.crc32(images.data):08x}:{'x'.join(map(str, images.shape))}"
    return ImageSplit(keys=[f"{source}:{i}" for i in range(len(images))], labels=labels, load=load, origin=origin)


@dataclass
class DoctorReport:
    """What ``lore-bench data doctor`` says about one dataset."""

    name: str
    status: str  # found | missing | partial
    counts: dict[str, int] = field(default_factory=dict)
    detail: str = ""


class Dataset:
    """Base class of a registered dataset.

    Subclasses set the class attributes and implement :meth:`load_split`.
    ``template`` is the CoOp-style hand-crafted prompt (``{}`` = class name) used
    for zero-shot and prompt initialisation; ``lore_template`` is the template of
    LORE's class-name knowledge (docs/paper/lore.md).
    """

    name: ClassVar[str]
    classnames: ClassVar[list[str]]
    template: ClassVar[str] = "a photo of a {}."
    lore_template: ClassVar[str] = "This is a photo of a {}."
    description: ClassVar[str] = ""
    #: True for datasets that ship with lore-bench or its dependencies (no data root needed).
    embedded: ClassVar[bool] = False

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root else default_data_root()

    def load_split(self, split: str) -> ImageSplit:  # split: "train" | "test"
        raise NotImplementedError

    def doctor(self, deep: bool = False) -> DoctorReport:
        """Default check: load both splits and decode a sample of their images (all with ``deep``)."""
        try:
            splits = {s: self.load_split(s) for s in ("train", "test")}
        except DatasetMissingError as err:
            return DoctorReport(self.name, "missing", detail=err.message)
        counts = {s: len(split) for s, split in splits.items()}
        broken = [p for s, split in splits.items() for p in undecodable(split, s, deep)]
        if broken:
            return DoctorReport(self.name, "broken", counts, broken_detail(broken, deep))
        return DoctorReport(self.name, "found", counts)


#: images per split that `data doctor` decodes without --deep (evenly spaced, so the same ones each time)
DOCTOR_SAMPLE = 32


def undecodable(split: ImageSplit, name: str, deep: bool = False) -> list[str]:
    """One line per image of ``split`` that does not decode: every image with
    ``deep``, else :data:`DOCTOR_SAMPLE` of them."""
    n = len(split)
    picks = range(n) if deep or n <= DOCTOR_SAMPLE else sorted({i * n // DOCTOR_SAMPLE for i in range(DOCTOR_SAMPLE)})
    problems = []
    for i in picks:
        try:
            split.load(i)
        except DataError as err:
            problems.append(f"{name}: {err.summary}")
    return problems


def broken_detail(problems: list[str], deep: bool, shown: int = 5) -> str:
    scope = "every image checked" if deep else f"a sample of {DOCTOR_SAMPLE} per split checked; --deep checks all"
    more = [f"... and {len(problems) - shown} more"] if len(problems) > shown else []
    return "\n".join([f"{len(problems)} images do not decode ({scope}):", *problems[:shown], *more,
                      "fix: download or extract those files again"])


DATASETS: Registry = Registry("dataset", "lore_bench.benchmarks.datasets", "lore_bench.datasets", base=Dataset)


def get_dataset(name: str, root: str | Path | None = None) -> Dataset:
    return DATASETS.get(name)(root)
