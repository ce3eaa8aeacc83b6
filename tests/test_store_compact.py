"""Compaction: every write kept once, and readers running meanwhile neither miss nor double-count a trial."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

import lore_bench.results.store as store_mod
from lore_bench.results import compact as compact_mod
from lore_bench.results.files import COMPACTED_PREFIX, list_files
from lore_bench.results.schema import EPOCHS_SCHEMA, TRIALS_SCHEMA
from lore_bench.results.store import ResultsStore


def row(trial_id, status="ok", top1=50.0, stage="main"):
    return {"trial_id": trial_id, "stage": stage, "eval_split": "test", "status": status, "top1": top1,
            "method": "coop", "dataset": "d", "shots": 1, "seed": 1}


def curve(trial_id, epochs=2):
    return [{"trial_id": trial_id, "stage": "main", "epoch": e, "train_loss": 1.0 / e} for e in range(1, epochs + 1)]


def fill(store, first=0, n=10):
    for i in range(first, first + n):
        if i % 3 == 0:  # stored as failed first, then replaced
            store.write_trial([row(f"t{i}", status="failed", top1=None)])
        store.write_trial([row(f"t{i}", top1=float(i))], curve(f"t{i}"))


def rows_of(df):
    return sorted(zip(df.trial_id, df.stage, df.status, df.top1.fillna(-1.0), df.write_id))


def snapshot(store):
    df = store.trials()
    every = store.trials(all_versions=True)
    ep = store.epochs()
    return (rows_of(df), sorted(every.write_id),
            sorted(zip(ep.trial_id, ep.epoch, ep.write_id)), store.completed_trial_ids())


def test_compact_folds_every_file_and_keeps_every_write_once(tmp_path):
    store = ResultsStore(tmp_path)
    fill(store)
    before = snapshot(store)
    folded = store.compact()
    assert [f.files for f in folded] == [14, 10] and [f.rows for f in folded] == [14, 20]
    for d in (store.trials_dir, store.epochs_dir):
        assert [e.name.startswith(COMPACTED_PREFIX) for e in list_files(d)] == [True]
    assert snapshot(store) == before
    assert store.compact()[0].into is None  # nothing left to fold
    (store.index_dir / "trials-keys.parquet").unlink()
    assert snapshot(ResultsStore(tmp_path)) == before


def test_a_reader_whose_files_vanish_mid_read_reads_again(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    fill(store)
    before = snapshot(store)
    real = store_mod.read_file
    calls = []

    def compact_then_read(path, columns=None):
        if not calls:  # the reader has listed the small files; a compaction now folds them
            ResultsStore(tmp_path).compact()
        calls.append(path)
        return real(path, columns)

    monkeypatch.setattr(store_mod, "read_file", compact_then_read)
    assert snapshot(store) == before
    # The first attempt met a file the compaction had removed, and the read was redone from the folded file.
    names = [Path(c).name for c in calls]
    assert not names[0].startswith(COMPACTED_PREFIX) and names[1].startswith(COMPACTED_PREFIX)


def test_a_reader_whose_listing_missed_files_sees_the_generation_move(tmp_path, monkeypatch):
    """readdir may skip entries created or removed while it runs: the reader lists
    only the old compacted file, having missed both the small files (removed
    meanwhile) and the file that folds them (created behind its position)."""
    store = ResultsStore(tmp_path)
    fill(store)
    store.compact()
    fill(store, first=10, n=4)
    store.write_trial([row("t1", status="diverged", top1=None)])  # replaces a compacted trial
    expected = snapshot(store)
    real = store_mod.list_files
    for method in ("completed_trial_ids", "trials"):
        state = {"raced": False}

        def racing_list(directory):
            entries = real(directory)
            if directory == store.trials_dir and not state["raced"]:
                state["raced"] = True
                compact_mod.compact_store(tmp_path, {"trials": TRIALS_SCHEMA, "epochs": EPOCHS_SCHEMA}, small_only=True)
                return [e for e in entries if e.name.startswith(COMPACTED_PREFIX)]
            return entries

        monkeypatch.setattr(store_mod, "list_files", racing_list)
        got = getattr(ResultsStore(tmp_path), method)()
        assert state["raced"]
        if method == "completed_trial_ids":
            assert got == expected[3] and "t1" not in got and {"t10", "t13"} <= got
        else:
            assert rows_of(got) == expected[0]
        fill(store, first=20 + len(method), n=3)  # new small files for the next round
        expected = snapshot(ResultsStore(tmp_path))


def test_an_interrupted_compaction_leaves_copies_that_count_once(tmp_path):
    store = ResultsStore(tmp_path)
    fill(store)
    before = snapshot(store)
    saved = {e.path: open(e.path, "rb").read() for d in (store.trials_dir, store.epochs_dir) for e in list_files(d)}
    store.compact()
    for path, data in saved.items():  # as if it died after writing the folded file, before removing the others
        open(path, "wb").write(data)
    assert snapshot(store) == before
    store.compact()
    assert len(list_files(store.trials_dir)) == 1 and snapshot(store) == before
    assert len(store.trials(all_versions=True)) == 14


def test_readers_during_writes_and_compactions_never_see_duplicates_or_losses(tmp_path):
    store = ResultsStore(tmp_path)
    fill(store, n=4)
    done = threading.Event()
    errors = []

    def writer():
        try:
            w = ResultsStore(tmp_path)
            for i in range(4, 24):
                w.write_trial([row(f"t{i}")], curve(f"t{i}"))
                if i % 4 == 0:
                    w.compact(wait=None)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen: set[str] = set()
    reads = 0
    while not done.is_set() or reads < 3:
        reader = ResultsStore(tmp_path)
        ids = reader.completed_trial_ids()
        df = reader.trials()
        assert df["trial_id"].is_unique, "a trial counted twice"
        assert seen <= ids and seen <= set(df.trial_id), "a stored trial disappeared"
        seen = ids
        reads += 1
    thread.join()
    assert not errors
    assert ResultsStore(tmp_path).completed_trial_ids() == {f"t{i}" for i in range(24)}


def test_the_writer_folds_small_files_as_it_goes(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "COMPACT_AFTER_FILES", 6)
    monkeypatch.setattr(store_mod, "_CHECK_EVERY", 2)
    store = ResultsStore(tmp_path)
    for i in range(30):
        store.write_trial([row(f"t{i}")], curve(f"t{i}"))
    assert len(list_files(store.trials_dir)) < 12
    assert store.completed_trial_ids() == {f"t{i}" for i in range(30)}
    assert len(store.epochs()) == 60


def test_the_key_index_follows_files_that_vanish_or_change(tmp_path):
    store = ResultsStore(tmp_path)
    a = store.write_trial([row("a")])
    b = store.write_trial([row("b")])
    assert store.completed_trial_ids() == {"a", "b"}
    assert (store.index_dir / "trials-keys.parquet").exists()
    a.unlink()
    assert store.completed_trial_ids() == {"b"}
    other = ResultsStore(tmp_path / "other")
    c = other.write_trial([row("c", status="failed", stage="a longer stage name")])
    b.write_bytes(c.read_bytes())  # same name, other content (and size)
    assert store.completed_trial_ids() == set()
    assert set(store.trials().trial_id) == {"c"}


def test_a_second_compaction_waits_its_turn(tmp_path):
    store = ResultsStore(tmp_path)
    fill(store, n=3)
    from lore_bench.results.locks import Busy, flock

    with flock(store.index_dir / compact_mod.LOCK):
        with pytest.raises(Busy):
            store.compact(wait=0)
        assert store.maybe_compact(min_files=1) is None
    assert store.compact()[0].into


def test_results_compact_command(tmp_path, capsys):
    from lore_bench.cli import main

    store = ResultsStore(tmp_path)
    fill(store, n=3)
    before = snapshot(store)
    assert main(["results", "compact", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "trials: folded 4 files (4 rows)" in out and "epochs: folded 3 files (6 rows)" in out
    assert snapshot(store) == before
