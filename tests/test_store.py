"""The results store: atomic per-write files, the newest write of a trial wins, bad files are skipped."""
from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lore_bench.cli import main
from lore_bench.results.schema import SCHEMA_VERSION, TRIALS_SCHEMA
from lore_bench.results.store import ResultsStore


def row(trial_id, status="ok", top1=50.0, stage="main", split="test"):
    return {"trial_id": trial_id, "stage": stage, "eval_split": split, "status": status, "top1": top1,
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


def test_newest_write_replaces_rows_of_every_stage_and_split(tmp_path):
    store = ResultsStore(tmp_path)
    # A failure is stored as stage main; the easy-to-hard success has stages easy/hard.
    store.write_trial([row("e2h", status="failed", top1=None)])
    store.write_trial([row("e2h", stage="easy", top1=70.0), row("e2h", stage="hard", top1=40.0)])
    # A frozen-feature trial stores one row per eval split; its later failure replaces both.
    store.write_trial([row("frozen", split="val", top1=80.0), row("frozen", split="test", top1=79.0)])
    store.write_trial([row("frozen", status="failed", top1=None)])
    df = store.trials()
    assert sorted(df[df.trial_id == "e2h"]["stage"]) == ["easy", "hard"]
    assert list(df[df.trial_id == "frozen"]["status"]) == ["failed"]
    assert store.completed_trial_ids() == {"e2h"}
    assert len(store.trials(all_versions=True)) == 6
    assert df["write_id"].notna().all() and set(df["schema_version"]) == {SCHEMA_VERSION}


def test_newest_curve_replaces_the_older_one(tmp_path):
    store = ResultsStore(tmp_path)
    curve = [{"trial_id": "a", "stage": "main", "epoch": e, "train_loss": 1.0} for e in (1, 2, 3)]
    store.write_trial([row("a")], curve)
    store.write_trial([row("a")], curve[:2])
    assert list(store.epochs()["epoch"]) == [1, 2]


def test_files_before_version_3_are_read_and_replaced_by_newer_writes(tmp_path):
    (tmp_path / "trials").mkdir()
    old_schema = pa.schema([f for f in TRIALS_SCHEMA if f.name not in ("write_id", "gflops")])  # as version 1 wrote
    old = pa.Table.from_pylist([{**row("old", status="failed", top1=None), "schema_version": 1},
                                ], schema=old_schema)
    pq.write_table(old, tmp_path / "trials" / "old-1700000000000000000-abcdef.parquet")
    pq.write_table(old.set_column(1, "trial_id", pa.array(["kept"])),
                   tmp_path / "trials" / "kept-1700000000000000001-abcdef.parquet")
    store = ResultsStore(tmp_path)
    assert set(store.trials()["trial_id"]) == {"old", "kept"} and store.trials()["gflops"].isna().all()
    store.write_trial([row("old", stage="easy")])  # newer than the old file's stamp
    df = store.trials()
    assert list(df[df.trial_id == "old"]["stage"]) == ["easy"] and store.completed_trial_ids() == {"old"}


def test_files_are_plain_parquet_and_temp_files_ignored(tmp_path):
    store = ResultsStore(tmp_path)
    path = store.write_trial([row("a")])
    assert pq.read_table(path).num_rows == 1
    (tmp_path / "trials" / ".x.parquet.tmp").write_bytes(b"torn")
    assert len(store.trials()) == 1


def test_unknown_column_is_an_error(tmp_path):
    with pytest.raises(KeyError):
        ResultsStore(tmp_path).write_trial([{**row("a"), "not_a_column": 1}])


def _corrupt(root, good_path):
    trials = root / "trials"
    data = good_path.read_bytes()
    bad = {"zero.parquet": b"", "torn.parquet": data[: len(data) // 2], "garbage.parquet": b"not parquet at all" * 50}
    for name, content in bad.items():
        (trials / name).write_bytes(content)
    pq.write_table(pa.table({"x": [1]}), trials / "foreign.parquet")  # valid Parquet, not ours
    pq.write_table(pa.table({"trial_id": [1], "status": [2]}), trials / "wrongtype.parquet")
    return sorted(str(trials / n) for n in [*bad, "foreign.parquet", "wrongtype.parquet"])


def test_unreadable_files_are_skipped_reported_and_listed_by_verify(tmp_path, caplog, capsys):
    store = ResultsStore(tmp_path)
    good = store.write_trial([row("a")], [{"trial_id": "a", "stage": "main", "epoch": 1}])
    store.write_trial([row("b", status="failed")])
    bad = _corrupt(tmp_path, good)
    (tmp_path / "epochs" / "zero.parquet").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="lore_bench.results"):
        assert store.completed_trial_ids() == {"a"}
    assert sorted(p.path for p in store.problems) == bad and all(p.reason for p in store.problems)
    assert "results verify" in caplog.text
    assert sorted(store.trials()["trial_id"]) == ["a", "b"]
    assert sorted(p.path for p in store.problems) == bad
    assert list(store.epochs()["epoch"]) == [1]
    assert store.compact()[0].files == 2  # folds the two good files, leaves the bad ones in place
    assert sorted(store.trials()["trial_id"]) == ["a", "b"]

    capsys.readouterr()
    assert main(["results", "verify", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    for path in [*bad, str(tmp_path / "epochs" / "zero.parquet")]:
        assert path in err
    for path in [*bad, str(tmp_path / "epochs" / "zero.parquet")]:
        Path(path).unlink()
    assert main(["results", "verify", "--results", str(tmp_path)]) == 0
    assert "ok: every file reads" in capsys.readouterr().out


def test_results_commands_explain_a_missing_store(tmp_path, capsys):
    assert main(["results", "compact", "--results", str(tmp_path / "nope")]) == 2
    assert "no results store" in capsys.readouterr().err


def test_the_store_imports_neither_torch_nor_ray():
    import subprocess
    import sys

    code = ("import sys, lore_bench.results.store, lore_bench.results.claims; "
            "print(sorted(m for m in ('torch', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
