"""Faults without starting Ray: how a trial's death reads, the Tune shim for
workers Ray kills for memory, full disks, what a rerun redoes, which
checkpoints stay, the token file, and a dead cluster address."""
from __future__ import annotations

import errno
import os
import stat
import time
from unittest import mock

import pytest

from conftest import make_spec
from lore_bench.results.rows import failure_row
from lore_bench.results.store import ResultsStore
from lore_bench.suite.orchestrate import faults
from lore_bench.suite.orchestrate.faults import DiskFull, failure_cause, is_disk_full

TASK_ERROR = """Failure # 1 (occurred at 2026-12-01_23-45-59)
ray::ImplicitFunc.train() (pid=6367, ip=127.0.0.1, actor_id=58a0, repr=lore_trainable)
  File "lb_fault_plugin.py", line 78, in _fire
    raise RuntimeError(f"injected failure at epoch {self.cfg.at_epoch}")
RuntimeError: injected failure at epoch 2
"""
WORKER_DIED = """Failure # 1 (occurred at 2026-12-01_23-46-57)
The actor died unexpectedly before finishing this task.
\tclass_name: ImplicitFunc
\tpid: 6719
\tip: 10.0.0.7
The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR Worker exit detail: Worker \
unexpectedly exits with a connection error code 2. End of file. Some common causes include: (1) the process was killed \
by the OOM killer due to high memory usage, (2) ray stop --force was called, (3) ...
"""
OOM = """Failure # 2 (occurred at 2026-12-01_23-39-15)
RayActorError: 1 worker(s) were killed due to the node running low on memory. Memory on the node (IP: 192.0.2.2, \
ID: 7abc) was 5.06GB used / 23.54GB limit (0.214936)
OOM kill reason: Memory usage 5432729600B exceeded threshold of 505519776B (2.0% of 25275990016B limit)
Object store memory usage: [- objects spillable: 0
Refer to the documentation on how to address the out of memory issue: https://docs.ray.io/...
"""


def test_a_failure_reads_as_one_line_a_person_can_act_on():
    assert failure_cause(TASK_ERROR) == "RuntimeError: injected failure at epoch 2"
    assert failure_cause(TASK_ERROR, attempts=2) == "RuntimeError: injected failure at epoch 2 [2 attempts]"
    died = failure_cause(WORKER_DIED)
    assert died.startswith("its worker process died on node 10.0.0.7") and "out-of-memory killer" in died
    oom = failure_cause(WORKER_DIED + OOM)  # the last attempt decides
    assert oom.startswith("killed by Ray's out-of-memory monitor (5.06GB used / 23.54GB limit, kill threshold 2.0%)")
    for text in (TASK_ERROR, WORKER_DIED, OOM, "x" * 5000, ""):
        line = failure_cause(text)
        assert "\n" not in line and 0 < len(line) <= faults.MAX_CAUSE
    assert faults.attempts_in(WORKER_DIED + OOM) == 2


def test_disk_full_is_told_apart_from_other_errors():
    enospc = OSError(errno.ENOSPC, "No space left on device")
    assert is_disk_full(enospc) and is_disk_full("OSError: [Errno 28] No space left on device: '/r/x.tmp'")
    try:
        try:
            raise enospc
        except OSError as inner:
            raise RuntimeError("Tune wrapped it") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied")) and not is_disk_full(TASK_ERROR)


class _Manager:
    """Just enough of Tune's RayActorManager state for ``_actor_task_failed``."""


def _fake_actor_task():
    from ray.air.execution._internal.tracked_actor import TrackedActor
    from ray.air.execution._internal.tracked_actor_task import TrackedActorTask

    seen = []
    actor = TrackedActor(1, on_error=lambda a, e: seen.append(("actor", e)))
    task = TrackedActorTask(actor, on_result=None, on_error=lambda a, e: seen.append(("task", e)))
    return actor, task, seen


def test_a_worker_killed_for_memory_is_an_actor_death_to_tune_not_an_abort():
    """Ray's OOM monitor fails the trial's actor task with OutOfMemoryError; Tune
    2.60 raised RuntimeError out of tuner.fit() for it (the whole run died)."""
    from ray.air.execution._internal.actor_manager import RayActorManager
    from ray.exceptions import OutOfMemoryError, RayActorError

    faults._installed = False
    # ray.kill on the fake actor would start a local Ray in this process (Ray
    # initialises itself on first use) that a later in-process run would reuse.
    with mock.patch.object(RayActorManager, "_actor_task_failed", RayActorManager._actor_task_failed), \
            mock.patch("ray.kill"):
        manager = RayActorManager(resource_manager=mock.MagicMock())
        actor, task, seen = _fake_actor_task()
        manager._live_actors_to_ray_actors_resources[actor] = (object(), mock.MagicMock())
        with pytest.raises(RuntimeError, match="Caught unexpected exception"):  # what Tune does on its own
            manager._actor_task_failed(task, OutOfMemoryError("1 worker(s) were killed due to the node running low"))
        faults.survive_worker_deaths()
        actor, task, seen = _fake_actor_task()
        manager._live_actors_to_ray_actors_resources[actor] = (object(), mock.MagicMock())
        manager._actor_task_failed(task, OutOfMemoryError("1 worker(s) were killed due to the node running low"))
        assert [kind for kind, _ in seen] == ["actor", "task"]  # Tune's actor-death path: retry, then on_trial_error
        assert all(isinstance(e, RayActorError) and "OutOfMemoryError" in str(e) for _, e in seen)
        assert actor not in manager._live_actors_to_ray_actors_resources
    faults._installed = False


def _tear_parquet_writes(monkeypatch):
    """Every Parquet write gets half a file on disk, then ENOSPC — a full disk."""
    import pyarrow.parquet as pq

    def full_disk(table, where, *a, **k):
        with open(where, "wb") as fh:
            fh.write(b"PAR1 torn")
        raise OSError(errno.ENOSPC, "No space left on device", str(where))

    monkeypatch.setattr(pq, "write_table", full_disk)


def test_a_full_disk_in_the_store_stops_the_run_with_no_partial_file(tmp_path, monkeypatch):
    from lore_bench.suite.orchestrate.driver import RunSummary
    from lore_bench.suite.orchestrate.progress import StoreCallback

    store = ResultsStore(tmp_path / "results")
    spec = make_spec()
    store.write_trial([failure_row(make_spec(seed=2), "earlier")])
    _tear_parquet_writes(monkeypatch)
    callback = StoreCallback(store, RunSummary(total=2, skipped=0), 2, lambda line: None, 1)
    with pytest.raises(DiskFull, match="no space left on device"):
        callback.record_failure(spec, "boom")
    assert callback.fatal and "intact" in callback.fatal
    leftovers = [p for p in (tmp_path / "results").rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers == []
    monkeypatch.undo()
    assert len(ResultsStore(tmp_path / "results").trials()) == 1  # what was stored before is readable


def test_a_checkpoint_torn_by_a_full_disk_leaves_nothing(tmp_path, monkeypatch):
    import torch

    from lore_bench.suite.engine.checkpoint import StageCheckpoint

    ckpt = StageCheckpoint(tmp_path / "ckpt" / "trial")
    ckpt.save("main", {"epoch": 0})

    def full_disk(obj, where, *a, **k):
        where.write(b"torn")  # half a file, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError):
        ckpt.save("main", {"epoch": 1})
    assert sorted(p.name for p in (tmp_path / "ckpt" / "trial").iterdir()) == ["stage-main.pt"]
    monkeypatch.undo()
    assert ckpt.load("main") == {"epoch": 0}  # the last good one stays


def test_a_rerun_redoes_failed_and_diverged_trials_only_when_asked(tmp_path):
    from lore_bench.suite.plan import plan_pending

    ok, failed, diverged, new = (make_spec(seed=s) for s in (1, 2, 3, 4))
    store = ResultsStore(tmp_path)
    store.write_trial([{**failure_row(ok, ""), "status": "ok", "error": None}])
    store.write_trial([failure_row(failed, "RuntimeError: boom")])
    store.write_trial([{**failure_row(diverged, "non-finite loss at epoch 2"), "status": "diverged"}])
    specs = [ok, failed, diverged, new]
    todo, statuses = plan_pending(specs, store)
    assert [s.trial_id for s in todo] == [new.trial_id]
    assert statuses == {ok.trial_id: "ok", failed.trial_id: "failed", diverged.trial_id: "diverged"}
    todo, _ = plan_pending(specs, store, retry_failed=True)
    assert {s.trial_id for s in todo} == {failed.trial_id, new.trial_id}
    todo, _ = plan_pending(specs, store, retry_diverged=True)
    assert {s.trial_id for s in todo} == {diverged.trial_id, new.trial_id}


def test_only_checkpoints_other_trials_read_are_kept(tmp_path):
    from lore_bench.suite.config import load_suite
    from lore_bench.suite.expand import expand
    from lore_bench.suite.orchestrate.checkpoints import discard, needed_by_dependents
    from test_frozen_suite import SUITE

    path = tmp_path / "s.yaml"
    path.write_text(SUITE.format(root=tmp_path))
    specs = expand(load_suite(path))
    (white_box,) = [s for s in specs if s.protocol == "few_shot"]
    assert needed_by_dependents(specs) == {white_box.trial_id}
    (tmp_path / "ck" / "t1").mkdir(parents=True)
    (tmp_path / "ck" / "t1" / "stage-main.pt").write_bytes(b"x")
    assert discard(tmp_path / "ck", "t1") and not (tmp_path / "ck" / "t1").exists()
    assert not discard(tmp_path / "ck", "t1") and not discard(None, "t1")


def test_the_token_file_is_private_to_its_owner(tmp_path, monkeypatch):
    from lore_bench.suite.orchestrate import ray_session

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    path = ray_session.ensure_private_token()
    assert path == tmp_path / ".ray" / "auth_token" and len(path.read_text()) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    token = path.read_text()
    os.chmod(path, 0o644)  # as Ray writes it
    assert ray_session.ensure_private_token() == path and path.read_text() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_dead_cluster_address_fails_in_seconds_with_a_clear_message():
    import socket

    from lore_bench.suite.orchestrate.ray_session import ClusterError, check_reachable

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.time()
    with pytest.raises(ClusterError, match=f"nothing answers at [0-9.]+:{port}.*ray start --head"):
        check_reachable(f"127.0.0.1:{port}")
    with pytest.raises(ClusterError, match="nothing answers"):
        check_reachable(f"ray://127.0.0.1:{port}")
    assert time.time() - t0 < 12


def test_a_checkpoint_location_that_cannot_be_written_is_refused_before_anything_starts(tmp_path, capsys):
    from lore_bench.cli import main

    suite = tmp_path / "s.yaml"
    suite.write_text("name: t\nbackbones: [micro_clip_random]\ndatasets: [sklearn_digits]\n"
                     "methods: {zeroshot_clip: {}}\nprotocol: {name: few_shot, shots: [1], seeds: [1]}\n")
    assert main(["run", str(suite), "--results", str(tmp_path / "r"), "--checkpoints", "nosuchfs://bucket/ck"]) == 2
    err = capsys.readouterr().err
    assert "cannot open 'nosuchfs://bucket/ck'" in err and "fix:" in err and not (tmp_path / "r").exists()


def test_a_dependency_checkpoint_goes_once_every_reader_is_stored_ok(tmp_path):
    from lore_bench.suite.config import load_suite
    from lore_bench.suite.expand import expand
    from lore_bench.suite.orchestrate.checkpoints import discard_consumed, readers_of
    from test_frozen_suite import SUITE

    path = tmp_path / "s.yaml"
    path.write_text(SUITE.format(root=tmp_path))
    specs = expand(load_suite(path))
    (white_box,) = [s for s in specs if s.protocol == "few_shot"]
    readers = [s.trial_id for s in specs if s.protocol == "frozen_features" and s.method == "lore"]
    folder = tmp_path / "ck" / white_box.trial_id
    folder.mkdir(parents=True)
    (folder / "stage-main.pt").write_bytes(b"x")
    assert discard_consumed(tmp_path / "ck", readers_of(specs), {white_box.trial_id, *readers[1:]}) == 0  # one not ok
    assert folder.exists()
    assert discard_consumed(tmp_path / "ck", readers_of(specs), {white_box.trial_id, *readers}) == 1
    assert not folder.exists()


def test_a_whole_file_write_that_fails_leaves_the_old_file_and_no_temp(tmp_path):
    """Claims, checkpoints, caches and the store's index all write through
    lore_bench.atomic: the old content stays until the new one is complete."""
    from lore_bench.atomic import replace_whole, temp_beside

    target = tmp_path / "claim.json"
    replace_whole(target, lambda tmp: tmp.write_text("old"))

    def torn(tmp):
        tmp.write_text("ha")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        replace_whole(target, torn)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["claim.json"]
    assert temp_beside(target) != temp_beside(target)  # two writers never share a temp file
