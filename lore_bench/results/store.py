"""The results store: Parquet files under one directory, one writer (the driver).

Layout::

    <root>/trials/<trial_id>-<stamp>.parquet   rows of one finished trial
    <root>/epochs/<trial_id>-<stamp>.parquet   its per-epoch curve

Each trial is written as its own file, atomically (temp file + rename), so a
``kill -9`` at any moment leaves either the whole trial or nothing. Readers
concatenate and keep, per (trial_id, stage, eval_split), the newest row, so a
trial rerun after a failure replaces its failed row. Plain Parquet: pandas,
DuckDB or Polars read ``<root>/trials/*.parquet`` without lore-bench.
"""
from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import UserError
from .schema import EPOCHS_SCHEMA, STATUS_OK, TRIALS_SCHEMA, conform

ROW_KEY = ["trial_id", "stage", "eval_split"]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


class StoreFileError(UserError):
    """A file in the results store that is not a readable Parquet table."""


def _read_table(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as err:
        raise StoreFileError(str(path), f"not a readable Parquet file of the results store ({err})",
                             fix="move it out of the store (a rerun recomputes that trial)") from None


class ResultsStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser()
        self.trials_dir = self.root / "trials"
        self.epochs_dir = self.root / "epochs"

    # -- writing ---------------------------------------------------------------
    def write_trial(self, rows: list[dict], epochs: list[dict] | None = None) -> Path:
        """Write one trial's rows (and curve) atomically. Epochs go first: a trial
        row only exists once its curve is on disk."""
        if not rows:
            raise ValueError("no rows to write")
        trial_id = rows[0]["trial_id"]
        stamp = f"{time.time_ns()}-{uuid.uuid4().hex[:6]}"
        for row in rows:
            row.setdefault("finished_at", now_utc())
        if epochs:
            for e in epochs:
                e.setdefault("finished_at", now_utc())
            self._atomic_write(conform(epochs, EPOCHS_SCHEMA), self.epochs_dir / f"{trial_id}-{stamp}.parquet")
        return self._atomic_write(conform(rows, TRIALS_SCHEMA), self.trials_dir / f"{trial_id}-{stamp}.parquet")

    @staticmethod
    def _atomic_write(table: pa.Table, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:  # data on disk before the rename makes it visible
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

    # -- reading ---------------------------------------------------------------
    def _read_dir(self, directory: Path, schema: pa.Schema) -> pd.DataFrame:
        files = sorted(directory.glob("*.parquet")) if directory.exists() else []
        if not files:
            return schema.empty_table().to_pandas()
        tables = [_read_table(f) for f in files]
        # Older schema versions: add the columns they lack as nulls.
        aligned = []
        for t in tables:
            for field in schema:
                if field.name not in t.column_names:
                    t = t.append_column(field, pa.nulls(len(t), field.type))
            aligned.append(t.select(schema.names).cast(schema))
        return pa.concat_tables(aligned).to_pandas()

    def trials(self, all_versions: bool = False) -> pd.DataFrame:
        """All result rows; by default only the newest row per (trial, stage, split)."""
        df = self._read_dir(self.trials_dir, TRIALS_SCHEMA)
        if all_versions or df.empty:
            return df
        df = df.sort_values("finished_at", kind="stable")
        return df.drop_duplicates(ROW_KEY, keep="last").reset_index(drop=True)

    def epochs(self) -> pd.DataFrame:
        df = self._read_dir(self.epochs_dir, EPOCHS_SCHEMA)
        if df.empty:
            return df
        # A rerun trial's curve replaces the earlier one.
        df = df.sort_values("finished_at", kind="stable")
        return df.drop_duplicates(["trial_id", "stage", "epoch"], keep="last").reset_index(drop=True)

    def completed_trial_ids(self) -> set[str]:
        """Trials whose every stored row is ok: a rerun skips exactly these."""
        df = self.trials()
        if df.empty:
            return set()
        ok = df.groupby("trial_id")["status"].apply(lambda s: bool((s == STATUS_OK).all()))
        return set(ok[ok].index)
