"""Leases: two drivers on one store never run the same trial; a dead or silent driver's trials are taken over."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from lore_bench.results.claims import Claims
from lore_bench.results.store import ResultsStore


def row(trial_id, status="ok"):
    return {"trial_id": trial_id, "stage": "main", "eval_split": "test", "status": status, "top1": 1.0}


def test_a_second_driver_gets_only_what_nobody_holds(tmp_path):
    a, b = ResultsStore(tmp_path), ResultsStore(tmp_path)
    ids = [f"t{i}" for i in range(10)]
    assert a.claim(ids[:6]) == set(ids[:6])
    assert b.claim(ids) == set(ids[6:])
    assert set(b.holders()) == {a._claims.holder}
    # Stored, then released: the other driver must neither claim nor rerun it.
    a.write_trial([row("t0")])
    a.release(["t0"])
    a.release(["t1"])  # released without a result (e.g. the driver gave up on it): free again
    assert b.claim(ids) == {"t1", *ids[6:]}  # (what it already held, still held)
    a.release()
    b.release()
    assert not list((tmp_path / "claims").glob("*.claim")) and not list((tmp_path / "claims" / "holders").iterdir())


def test_two_drivers_at_once_run_every_trial_exactly_once(tmp_path):
    ids = [f"t{i}" for i in range(40)]
    ran: dict[str, list[str]] = {}

    def driver(name):
        store = ResultsStore(tmp_path)
        pending = [t for t in ids if t not in store.completed_trial_ids()]
        for tid in pending:  # claim one at a time, as late as possible: the most interleaving
            if store.claim([tid]):
                ran.setdefault(tid, []).append(name)
                time.sleep(0.002)
                store.write_trial([row(tid)])
                store.release([tid])
        store.release()

    threads = [threading.Thread(target=driver, args=(n,)) for n in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ran) == sorted(ids) and all(len(v) == 1 for v in ran.values()), ran
    every = ResultsStore(tmp_path).trials(all_versions=True)
    assert len(every) == 40 and every["trial_id"].is_unique


def _holder_file(root, holder, **info):
    path = root / "claims" / "holders" / f"{holder}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"holder": holder, **info}))


def _claim_file(root, trial_id, holder):
    (root / "claims" / f"{trial_id}.claim").write_text(json.dumps({"holder": holder}))


def test_stale_leases_are_taken_over_and_live_ones_are_not(tmp_path):
    me = Claims(tmp_path / "claims")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is free now
    _holder_file(tmp_path, "dead", pid=dead.pid, host=me.host, expires=time.time() + 3600)
    _holder_file(tmp_path, "silent", pid=1, host="elsewhere", expires=time.time() - 1)
    _holder_file(tmp_path, "alive-here", pid=me.pid, host=me.host, expires=time.time() + 3600)
    _holder_file(tmp_path, "alive-there", pid=1, host="elsewhere", expires=time.time() + 3600)
    for tid, holder in [("a", "dead"), ("b", "silent"), ("c", "alive-here"), ("d", "alive-there"), ("e", "gone")]:
        _claim_file(tmp_path, tid, holder)
    (tmp_path / "claims" / "f.claim").write_text("")  # its writer died mid-write
    assert me.claim("abcdef") == {"a", "b", "e", "f"}
    assert json.loads((tmp_path / "claims" / "a.claim").read_text())["holder"] == me.holder
    assert set(me.holders()) == {"alive-here", "alive-there"}
    me.release()
    assert (tmp_path / "claims" / "c.claim").exists() and not (tmp_path / "claims" / "a.claim").exists()


def test_the_heartbeat_keeps_a_lease_and_release_never_frees_a_takeover(tmp_path):
    a = Claims(tmp_path / "claims", lease_seconds=0.8)
    b = Claims(tmp_path / "claims", lease_seconds=0.8)
    b.host = "elsewhere"  # judges a's lease by its expiry only, as a driver on another node would
    assert a.claim(["x"]) == {"x"}
    time.sleep(1.2)  # more than the lease: only the heartbeat keeps it
    assert b.claim(["x"]) == set()
    a._stop.set()
    a._thread.join()
    time.sleep(0.9)  # a stops renewing (hung, suspended): its lease expires
    assert b.claim(["x"]) == {"x"}
    a.release(["x"])  # a wakes up and releases what it believes it holds
    assert json.loads((tmp_path / "claims" / "x.claim").read_text())["holder"] == b.holder
    b.release()
    assert not (tmp_path / "claims" / "x.claim").exists()


def test_a_store_holding_leases_pickles(tmp_path):
    """Ray Tune pickles its callbacks, and the driver's callback holds the store."""
    import pickle

    store = ResultsStore(tmp_path)
    assert store.claim(["a"]) == {"a"}
    copy = pickle.loads(pickle.dumps(store))
    assert copy._claims.holder == store._claims.holder and copy._claims.held == {"a"}
    store.release()
