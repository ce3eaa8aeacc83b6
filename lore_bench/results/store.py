"""The results store: Parquet files under one directory, written by the drivers.

Layout::

    <root>/trials/<trial_id>-<write_id>.parquet   the rows of one write of one trial
    <root>/trials/compacted-<id>.parquet          many writes folded by `compact`
    <root>/epochs/...                             the per-epoch curves, same scheme
    <root>/claims/                                leases of the drivers running trials (claims.py)
    <root>/index/                                 a cache of key columns, the compaction generation

Each write is its own file, atomic (temp file + rename), so a ``kill -9`` at
any moment leaves either the whole write or nothing. Readers keep, per trial,
only the rows of its newest write (select.py), skip and report files they
cannot read, and read again when a compaction removed files under them
(compact.py). Plain Parquet: pandas, DuckDB or Polars read
``<root>/trials/*.parquet`` without lore-bench (dedupe on ``write_id``).
"""
from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from . import compact as _compact
from .claims import LEASE_SECONDS, Claims
from .files import (COMPACTED_PREFIX, BadFile, Problem, Vanished, concat_conformed, list_files, new_write_id,
                    read_conformed, read_file, write_atomic)
from .index import read_keys
from .locks import Busy, flock
from .schema import EPOCHS_SCHEMA, TRIALS_SCHEMA, conform
from .select import completed, current_rows

log = logging.getLogger("lore_bench.results")
COMPACT_AFTER_FILES = 256  # single-write files a store holds before its writer folds them
_CHECK_EVERY = 32  # writes between two looks at that count (a directory listing)
_READ_ATTEMPTS = 8
_warned: set[str] = set()  # report each unreadable file once per process, not on every read


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


class ResultsStore:
    def __init__(self, root: str | os.PathLike, lease_seconds: float | None = None):
        self.root = Path(root).expanduser()
        self.trials_dir = self.root / "trials"
        self.epochs_dir = self.root / "epochs"
        self.index_dir = self.root / "index"
        self.problems: list[Problem] = []  # unreadable files met by the last read
        self._writes = 0
        self._claims = Claims(self.root / "claims", lease_seconds or LEASE_SECONDS)

    # -- writing ---------------------------------------------------------------
    def write_trial(self, rows: list[dict], epochs: list[dict] | None = None) -> Path:
        """Write one trial's rows (and curve) as one write: it replaces every
        older row of that trial. Epochs go first: a trial row only exists once
        its curve is on disk."""
        if not rows:
            raise ValueError("no rows to write")
        trial_id = rows[0]["trial_id"]
        if any(r.get("trial_id") != trial_id for r in rows):
            raise ValueError("one write holds the rows of one trial")
        write_id = new_write_id()
        for row in rows:
            row.setdefault("finished_at", now_utc())
        if epochs:
            for e in epochs:
                e.setdefault("finished_at", now_utc())
            write_atomic(conform(epochs, EPOCHS_SCHEMA, write_id), self.epochs_dir / f"{trial_id}-{write_id}.parquet")
        path = write_atomic(conform(rows, TRIALS_SCHEMA, write_id), self.trials_dir / f"{trial_id}-{write_id}.parquet")
        self._writes += 1
        if self._writes % _CHECK_EVERY == 0:
            self._fold_small_files()
        return path

    def _fold_small_files(self) -> None:
        # A long run keeps the store a few files deep, so readers stay fast at
        # any size; the write itself is already safe, so a failure here is only logged.
        try:
            self.maybe_compact()
        except Exception as err:  # noqa: BLE001 - never lose a run over housekeeping
            log.warning("warning: compacting %s failed (%s); the results are intact", self.root, err)

    # -- reading ---------------------------------------------------------------
    def trials(self, all_versions: bool = False, columns: list[str] | None = None) -> pd.DataFrame:
        """Result rows: by default the rows of each trial's newest write; with
        ``all_versions`` every write (each once). ``columns``: only these (and
        trial_id, write_id), read from disk column by column; None: all."""
        return self._read_table(self.trials_dir, TRIALS_SCHEMA, all_versions, columns)

    def epochs(self) -> pd.DataFrame:
        """Training curves: of each trial, its newest curve (a failure's write
        has no curve, so the curve of the last run that had one stays)."""
        return self._read_table(self.epochs_dir, EPOCHS_SCHEMA, False)

    def completed_trial_ids(self) -> set[str]:
        """Trials whose newest write is all ok: a rerun skips exactly these.
        Reads only trial_id / write_id / status, through the key index."""

        def once():
            keys, file_no, problems = read_keys(list_files(self.trials_dir), self.index_dir / "trials-keys.parquet")
            keys = keys.take(current_rows(keys["trial_id"], keys["write_id"], file_no))
            return completed(keys["trial_id"], keys["status"]), problems

        return self._consistent(once)

    def _read_table(self, directory: Path, schema: pa.Schema, all_versions: bool,
                    columns: list[str] | None = None) -> pd.DataFrame:
        if columns is not None:  # Parquet is columnar: a column not asked for is never read
            unknown = set(columns) - set(schema.names)
            if unknown:
                raise ValueError(f"no column(s) {sorted(unknown)} in the store's schema")
            wanted = {"trial_id", "write_id", *columns}
            schema = pa.schema([f for f in schema if f.name in wanted])
            columns = schema.names

        def once():
            pairs, problems = [], []
            for e in list_files(directory):
                try:
                    pairs.append((e.path, read_file(e.path, columns)))
                except BadFile as err:
                    problems.append(Problem(e.path, str(err)))
            table, file_no = concat_conformed(pairs, schema, problems)
            return _take(table, current_rows(table["trial_id"], table["write_id"], file_no, all_versions)), problems

        return self._consistent(once).to_pandas()

    def _consistent(self, once):
        """Run a read so that a concurrent compaction can neither hide a write
        nor show it twice: retry when files vanished or the generation moved."""
        for _ in range(_READ_ATTEMPTS):
            before = _compact.generation(self.index_dir)
            try:
                result, problems = once()
            except Vanished:
                continue
            if _compact.generation(self.index_dir) == before:
                return self._done(result, problems)
            time.sleep(0.01)
        try:  # compactions keep racing us: read while holding them off
            with flock(self.index_dir / _compact.LOCK, exclusive=False):
                result, problems = once()
        except OSError:  # a read-only store cannot be compacted under us either
            result, problems = once()
        return self._done(result, problems)

    def _done(self, result, problems: list[Problem]):
        self.problems = problems
        new = [p for p in problems if p.path not in _warned]
        if new:
            _warned.update(p.path for p in new)
            more = f" (and {len(new) - 1} more)" if len(new) > 1 else ""
            log.warning("warning: skipped unreadable results file %s%s; `lore-bench results verify --results %s` "
                        "lists them", new[0], more, self.root)
        return result

    # -- maintenance -----------------------------------------------------------
    def verify(self) -> dict[str, list]:
        """Read every file in full. Returns {"bad": [Problem], "tables": [(dir, files, rows, trials)],
        "temp": [leftover temp files]}; the readers skip exactly the bad ones."""
        report = {"bad": [], "tables": [], "temp": []}
        for directory, schema in ((self.trials_dir, TRIALS_SCHEMA), (self.epochs_dir, EPOCHS_SCHEMA)):
            rows, trials, files = 0, set(), list_files(directory)
            for e in files:
                try:
                    t = read_conformed(e.path, schema)
                except BadFile as err:
                    report["bad"].append(Problem(e.path, str(err)))
                    continue
                except Vanished:
                    continue
                rows += t.num_rows
                trials.update(t["trial_id"].to_pylist())
            report["tables"].append((str(directory), len(files), rows, len(trials)))
            if directory.is_dir():
                report["temp"] += sorted(str(p) for p in directory.glob(".*.tmp"))
        return report

    def compact(self, wait: float | None = 0) -> list[_compact.Folded]:
        """Fold each table's files into one; readers keep working meanwhile.
        Raises locks.Busy if another compaction is running."""
        folded = _compact.compact_store(self.root, {"trials": TRIALS_SCHEMA, "epochs": EPOCHS_SCHEMA}, wait)
        self.completed_trial_ids()  # leave the key index warm for the next `run`
        return folded

    def maybe_compact(self, min_files: int | None = None) -> list[_compact.Folded] | None:
        """Fold the single-write files when a table has at least ``min_files``
        (default COMPACT_AFTER_FILES) of them and no other compaction is
        running; None when nothing was done."""
        min_files = COMPACT_AFTER_FILES if min_files is None else min_files
        small = max(sum(not e.name.startswith(COMPACTED_PREFIX) for e in list_files(d))
                    for d in (self.trials_dir, self.epochs_dir))
        if small < min_files:
            return None
        try:
            return _compact.compact_store(self.root, {"trials": TRIALS_SCHEMA, "epochs": EPOCHS_SCHEMA}, 0,
                                          small_only=True)
        except Busy:
            return None

    # -- leases ----------------------------------------------------------------
    def claim(self, trial_ids) -> set[str]:
        """Claim trials before running them: returns those this process now
        holds, i.e. not held by another live driver and not already done."""
        got = self._claims.claim(trial_ids)
        # A driver stores a trial before releasing it: whatever was released
        # just before we won its claim is stored by now, and must not rerun.
        done = got & self.completed_trial_ids()
        if done:
            self._claims.release(done)
        return got - done

    def release(self, trial_ids=None) -> None:
        """Release claims once their rows are stored (all when None)."""
        self._claims.release(trial_ids)

    def holders(self) -> dict[str, dict]:
        """Other live drivers holding claims on this store (pid, host, expiry)."""
        return self._claims.holders()


def _take(table: pa.Table, rows: np.ndarray) -> pa.Table:
    if len(rows) and (rows == np.arange(rows[0], rows[0] + len(rows))).all():
        return table.slice(int(rows[0]), len(rows))  # a compacted store's current tail: no copy
    return table.take(pa.array(rows))
