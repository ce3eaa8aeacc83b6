"""The results store: atomic per-trial files, newest row wins, ok trials are done."""
from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from lore_bench.results.store import ResultsStore


def row(trial_id, status="ok", top1=50.0, stage="main"):
    return {"trial_id": trial_id, "stage": stage, "eval_split": "test", "status": status, "top1": top1,
            "method": "coop", "dataset": "d", "shots": 1, "seed": 1}


def test_rerun_replaces_failed_row_and_marks_done(tmp_path):
    store = ResultsStore(tmp_path)
    store.write_trial([row("a", status="failed", top1=None)])
    store.write_trial([row("b")], [{"trial_id": "b", "stage": "main", "epoch": 1, "train_loss": 1.0}])
    assert store.completed_trial_ids() == {"b"}
    store.write_trial([row("a", top1=61.0)])
    df = store.trials()
    assert len(df) == 2 and df.set_index("trial_id").loc["a", "top1"] == 61.0
    assert store.completed_trial_ids() == {"a", "b"}
    assert len(store.trials(all_versions=True)) == 3
    assert list(store.epochs()["epoch"]) == [1]


def test_files_are_plain_parquet_and_temp_files_ignored(tmp_path):
    store = ResultsStore(tmp_path)
    path = store.write_trial([row("a")])
    assert pq.read_table(path).num_rows == 1
    (tmp_path / "trials" / ".x.parquet.tmp").write_bytes(b"torn")
    assert len(store.trials()) == 1


def test_unknown_column_is_an_error(tmp_path):
    with pytest.raises(KeyError):
        ResultsStore(tmp_path).write_trial([{**row("a"), "not_a_column": 1}])
