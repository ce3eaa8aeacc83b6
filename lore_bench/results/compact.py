"""Fold many small store files into one while readers keep reading.

Order of operations, so a reader never misses a write nor counts one twice:
1. read every file to fold (unreadable ones stay where they are, reported);
2. write all their rows, write ids included, to one new file (temp, fsync, rename);
3. bump the store's generation number;
4. remove the folded files.
A reader notes the generation before listing and checks it after reading: if
a compaction removed files meanwhile (step 4 follows step 3) it reads again,
and the new file exists from before the bump. A write found in two files is
counted once (select.py), so a compaction that crashed between 2 and 4 only
leaves copies that readers ignore and the next compaction removes.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..atomic import replace_whole
from .files import (COMPACTED_PREFIX, SUFFIX, BadFile, Problem, Vanished, concat_conformed, list_files, new_write_id,
                    read_file, write_atomic)
from .locks import flock
from .select import current_rows

GENERATION = "generation.json"
MAX_COMPACTED = 16  # compacted files a mid-run compaction tolerates before it folds them too
LOCK = "compact.lock"


@dataclass
class Folded:
    """What one compaction did to one table directory."""

    directory: str
    files: int = 0
    rows: int = 0
    into: str | None = None
    problems: list[Problem] = field(default_factory=list)

    def line(self) -> str:
        name = Path(self.directory).name
        if not self.into:
            return f"{name}: nothing to fold ({self.files} file{'s' if self.files != 1 else ''})"
        return f"{name}: folded {self.files} files ({self.rows} rows) into {Path(self.into).name}"


def generation(index_dir: Path) -> int:
    try:
        return int(json.loads((index_dir / GENERATION).read_text())["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _bump_generation(index_dir: Path) -> None:
    index_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"generation": generation(index_dir) + 1})
    replace_whole(index_dir / GENERATION, lambda tmp: tmp.write_text(text))


def compact_dir(directory: Path, schema: pa.Schema, index_dir: Path, small_only: bool = False) -> Folded:
    """Steps 1-4 for one table directory; the caller holds the compaction lock.
    ``small_only``: fold only single-write files, unless compacted files have
    piled up (more than MAX_COMPACTED), so the cost stays bounded mid-run."""
    entries = list_files(directory)
    result = Folded(str(directory), files=len(entries))
    if small_only:
        small = [e for e in entries if not e.name.startswith(COMPACTED_PREFIX)]
        if len(entries) - len(small) < MAX_COMPACTED:
            entries = small
    if len(entries) < 2:
        return result
    pairs = []
    for e in entries:
        try:
            pairs.append((e, read_file(e.path)))
        except BadFile as err:
            result.problems.append(Problem(e.path, str(err)))
        except Vanished:  # removed by hand meanwhile: nothing to fold
            continue
    table, file_no = concat_conformed([(e.path, t) for e, t in pairs], schema, result.problems)
    bad = {p.path for p in result.problems}
    folded = [e for e, _ in pairs if e.path not in bad]
    if len(folded) < 2:
        return result
    # Copies of one write left by an interrupted compaction: keep one.
    # Copies of one write (left by an interrupted compaction) once; superseded
    # writes first, then the current ones, each in write order: a reader's
    # newest-write rows are then one contiguous tail, read without a copy.
    every = current_rows(table["trial_id"], table["write_id"], file_no, all_versions=True)
    current = current_rows(table["trial_id"], table["write_id"], file_no)
    table = table.take(pa.array(np.concatenate([every[~np.isin(every, current)], current])))
    into = write_atomic(table, directory / f"{COMPACTED_PREFIX}{new_write_id()}{SUFFIX}")
    _fsync_dir(directory)
    _bump_generation(index_dir)
    for e in folded:
        Path(e.path).unlink(missing_ok=True)
    _fsync_dir(directory)
    result.files, result.rows, result.into = len(folded), table.num_rows, str(into)
    return result


def compact_store(root: Path, tables: dict[str, pa.Schema], wait: float | None = 0,
                  small_only: bool = False) -> list[Folded]:
    """Compact each table directory of the store at ``root`` under its lock.
    Raises locks.Busy when another compaction holds it (and ``wait`` runs out)."""
    index_dir = root / "index"
    with flock(index_dir / LOCK, wait=wait):
        return [compact_dir(root / name, schema, index_dir, small_only) for name, schema in tables.items()]


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
