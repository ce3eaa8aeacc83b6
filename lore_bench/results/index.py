"""A cache of every store file's key columns, so "which trials are done" opens only new files.

Files never change once written, so an entry keyed by (file name, size) stays
true for as long as that file is listed; entries of files that are gone are
dropped on the next read. It is only a cache (``<root>/index/``): deleting it
costs one slow read, and a store on a read-only disk simply goes without it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..atomic import replace_whole
from .files import ARROW_ERRORS, BadFile, Entry, Problem, conform_table, read_file

KEY_COLUMNS = ["trial_id", "write_id", "status"]
_SCHEMA = pa.schema([("file", pa.string()), ("size", pa.int64()), ("trial_id", pa.string()),
                     ("write_id", pa.string()), ("status", pa.string())])
_VERSION = b"1"


def read_keys(entries: list[Entry], index_path: Path | None) -> tuple[pa.Table, np.ndarray, list[Problem]]:
    """Key columns of the rows of ``entries``, the file ordinal of each row, and
    the files that could not be read. Uses and refreshes the index at
    ``index_path`` (None: no index). Raises Vanished like read_file."""
    names = pa.array([e.name for e in entries], pa.string())
    sizes = np.array([e.size for e in entries], dtype=np.int64)
    cached = _load(index_path) if index_path is not None else _SCHEMA.empty_table()
    # An index row stays while its file is listed with the same size.
    at = pc.fill_null(pc.index_in(cached["file"], value_set=names), -1).to_numpy().astype(np.int64)
    pos = np.maximum(at, 0)
    keep = (at >= 0) & (sizes[pos] == cached["size"].to_numpy()) if len(entries) else np.zeros(len(at), dtype=bool)
    cached, pos = cached.filter(pa.array(keep)), pos[keep]
    seen = np.zeros(len(entries), dtype=bool)
    seen[pos] = True
    fresh, fresh_pos, problems = [], [], []
    for i in np.nonzero(~seen)[0]:
        e = entries[i]
        try:
            t = _with_keys(read_file(e.path, KEY_COLUMNS))
        except BadFile as err:  # not cached: it is reported on every read until fixed
            problems.append(Problem(e.path, str(err)))
            continue
        except ARROW_ERRORS as err:
            problems.append(Problem(e.path, f"a key column of the wrong type: {err}"))
            continue
        fresh.append(pa.table({"file": pa.array([e.name] * t.num_rows, pa.string()),
                               "size": pa.array([e.size] * t.num_rows, pa.int64()), **{c: t[c] for c in KEY_COLUMNS}},
                              schema=_SCHEMA))
        fresh_pos.append(np.full(t.num_rows, i, dtype=np.int64))
    table = pa.concat_tables([cached, *fresh]) if fresh else cached
    if index_path is not None and (fresh or not keep.all()):
        _save(table, index_path)
    return table.select(KEY_COLUMNS), np.concatenate([pos, *fresh_pos]), problems


def _with_keys(t: pa.Table) -> pa.Table:
    return conform_table(t, pa.schema([(c, pa.string()) for c in KEY_COLUMNS]))


def _load(path: Path) -> pa.Table:
    try:
        t = pq.read_table(path)
    except Exception:  # missing or torn: start over (it is only a cache)
        return _SCHEMA.empty_table()
    if (t.schema.metadata or {}).get(b"lore_bench_index") != _VERSION or not t.schema.equals(_SCHEMA):
        return _SCHEMA.empty_table()
    return t


def _save(table: pa.Table, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        marked = table.replace_schema_metadata({"lore_bench_index": _VERSION})
        replace_whole(path, lambda tmp: pq.write_table(marked, tmp))  # readers see the old index or the new one
    except OSError:
        pass  # a read-only store reads without the cache
