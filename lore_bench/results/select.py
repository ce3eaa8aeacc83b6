"""Which stored rows count: one copy of each write, and of each trial only its newest write.

"Done" is decided per trial, not per row: a trial's newest write replaces all
of its older rows whatever their stage or eval split (a failure stored as
stage ``main`` is replaced by a later success stored as ``easy``/``hard``).
A write can sit in two files for a moment (a compaction has written the file
that folds it and not yet removed the original, or crashed in between); the
rows of one file are kept per write id, so nothing is counted twice.
Vectorised over integer codes: 100,000 rows take tens of milliseconds.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import STATUS_OK


def _codes(array) -> tuple[np.ndarray, pa.Array]:
    """Integer codes of a string column and its distinct values (nulls: code -1)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    encoded = pc.dictionary_encode(array)
    return pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary


def _rank(dictionary: pa.Array) -> np.ndarray:
    """Rank of each distinct write id in write order (ids sort as strings)."""
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[pc.sort_indices(dictionary).to_numpy()] = np.arange(len(dictionary))
    return rank


def current_rows(trial_id, write_id, file_no: np.ndarray, all_versions: bool = False) -> np.ndarray:
    """Indices of the rows that count, in write order. ``file_no`` is the
    ordinal of the file each row came from."""
    n = len(file_no)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    t, _ = _codes(trial_id)
    w, wdict = _codes(write_id)
    valid = (t >= 0) & (w >= 0)
    wrank = np.where(w >= 0, _rank(wdict)[np.maximum(w, 0)], -1)
    # One copy of each write: the rows from the first file that holds it.
    first_file = np.full(len(wdict) + 1, np.iinfo(np.int64).max)
    np.minimum.at(first_file, w, file_no)
    keep = valid & (file_no == first_file[w])
    if not all_versions:
        newest = np.full(int(t.max(initial=-1)) + 2, -1)
        np.maximum.at(newest, t, wrank)
        keep &= wrank == newest[t]
    rows = np.nonzero(keep)[0]
    return rows[np.argsort(wrank[rows], kind="stable")]


def completed(trial_id, status) -> set[str]:
    """Trials whose every row is ok (rows already chosen by current_rows)."""
    if len(trial_id) == 0:
        return set()
    t, tdict = _codes(trial_id)
    if isinstance(status, pa.ChunkedArray):
        status = status.combine_chunks()
    ok = pc.fill_null(pc.equal(status, STATUS_OK), False).to_numpy(zero_copy_only=False)
    present = np.zeros(len(tdict), dtype=bool)
    present[t[t >= 0]] = True
    present[t[(t >= 0) & ~ok]] = False
    return set(tdict.filter(pa.array(present)).to_pylist())
