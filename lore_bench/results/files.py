"""The store's Parquet files: list them, read one (any schema version), name what is unreadable.

A file is one write (``<trial_id>-<ns>-<rand>.parquet``) or a compaction of
many (``compacted-<ns>-<rand>.parquet``); both are written whole (temp file +
rename) and never changed afterwards, so a file's name identifies its content.
"""
from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import replace_whole

SUFFIX = ".parquet"
ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)
COMPACTED_PREFIX = "compacted-"


class BadFile(Exception):
    """A store file that cannot be read as lore-bench rows; the message says why."""


class Vanished(Exception):
    """A listed file was removed before it was read (a compaction folded it)."""


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class Entry:
    name: str
    path: str
    size: int


def list_files(directory: Path) -> list[Entry]:
    """The data files of one table directory, by name. Temp files of writes
    in progress (``.name.parquet.tmp``) and hidden files are not data."""
    try:
        it = os.scandir(directory)
    except FileNotFoundError:
        return []
    entries = []
    with it:
        for e in it:
            if not e.name.endswith(SUFFIX) or e.name.startswith((".", "_")):
                continue
            try:
                if e.is_file():
                    entries.append(Entry(e.name, e.path, e.stat().st_size))
            except FileNotFoundError:  # removed while listing
                continue
    entries.sort(key=lambda e: e.name)
    return entries


_last_ns = 0
_id_lock = threading.Lock()


def new_write_id() -> str:
    """``<20-digit ns>-<random>``: sorts in write order, strictly increasing in
    this process even if the clock steps back, unique across processes."""
    global _last_ns
    with _id_lock:
        _last_ns = max(time.time_ns(), _last_ns + 1)
        ns = _last_ns
    return f"{ns:020d}-{uuid.uuid4().hex[:8]}"


def legacy_write_id(name: str, mtime_ns: int) -> str:
    """The write id of a file written before schema version 3: its name's
    ``<trial_id>-<ns>-<rand>`` stamp (one file was one write), else its mtime."""
    parts = name[: -len(SUFFIX)].rsplit("-", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return f"{int(parts[1]):020d}-{parts[2]}"
    return f"{mtime_ns:020d}-legacy"


def read_file(path: str, columns: list[str] | None = None) -> pa.Table:
    """The file's rows with ``columns`` (those it has; all when None), plus
    ``write_id`` for files older than version 3. Raises BadFile or Vanished."""
    try:
        with pq.ParquetFile(path) as pf:
            names = pf.schema_arrow.names
            if "trial_id" not in names:
                raise BadFile("no trial_id column: not a lore-bench results file")
            want = names if columns is None else [c for c in columns if c in names]
            table = pf.read(columns=want)
    except FileNotFoundError as err:
        raise Vanished(path) from err
    except BadFile:
        raise
    except Exception as err:  # pyarrow raises ArrowInvalid / OSError / others for torn or foreign files
        raise BadFile(_reason(err)) from None
    if "write_id" not in names and (columns is None or "write_id" in columns):
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError as err:
            raise Vanished(path) from err
        wid = legacy_write_id(os.path.basename(path), mtime)
        table = table.append_column("write_id", pa.array([wid] * table.num_rows, pa.string()))
    return table


def write_atomic(table: pa.Table, path: Path) -> Path:
    """Write ``table`` to ``path`` so that readers see all of it or nothing:
    a temp file, flushed to disk, then renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return replace_whole(path, lambda tmp: pq.write_table(table, tmp), fsync=True)


def conform_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A table read from any version -> exactly the columns of ``schema`` it
    was asked for, in order; columns an older version lacks become nulls."""
    for field in schema:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    table = table.select(schema.names)
    if table.schema.equals(schema):
        return table
    for have, want in zip(table.schema, schema):
        # Strict: our writers always write the schema's types; an int where a
        # string belongs is a foreign file, not data to coerce.
        if have.type != want.type and not pa.types.is_null(have.type):
            raise pa.ArrowTypeError(f"column {have.name} is {have.type}, expected {want.type}")
    return table.cast(schema)


def concat_conformed(pairs: list[tuple[str, pa.Table]], schema: pa.Schema, problems: list[Problem]):
    """One table of ``schema`` from (path, table) pairs read from files, and the
    ordinal (into ``pairs``) of each row's file. A file with a column of a
    foreign type is left out and added to ``problems``."""
    good = list(range(len(pairs)))
    try:
        table = conform_table(pa.concat_tables([t for _, t in pairs], promote_options="permissive"), schema) \
            if pairs else schema.empty_table()
    except ARROW_ERRORS:  # conform one by one to find the offending files
        tables, good = [], []
        for i, (path, t) in enumerate(pairs):
            try:
                tables.append(conform_table(t, schema))
                good.append(i)
            except ARROW_ERRORS as err:
                problems.append(Problem(path, f"a column of the wrong type: {_reason(err)}"))
        table = pa.concat_tables(tables) if tables else schema.empty_table()
    file_no = np.repeat(np.array(good, dtype=np.int64), [pairs[i][1].num_rows for i in good])
    return table, file_no


def read_conformed(path: str, schema: pa.Schema) -> pa.Table:
    """All of a file's rows as ``schema``; a column of a foreign type is BadFile."""
    table = read_file(path)
    try:
        return conform_table(table, schema)
    except ARROW_ERRORS as err:
        raise BadFile(f"a column of the wrong type: {_reason(err)}") from None


def _reason(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else 'unreadable'}"
