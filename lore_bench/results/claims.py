"""Leases on trials: a driver claims the trials it is about to run, so a second
driver on the same store runs only the trials nobody holds.

Layout under ``<root>/claims/``::

    holders/<holder>.json   who holds leases: pid, host, lease expiry (renewed by a heartbeat)
    <trial_id>.claim        which holder runs that trial

A claim is stale, and may be taken over, when its holder's file is gone, when
the holder ran on this host and its pid is dead, or when its lease expired
(a holder on another host that stopped renewing). Every claim, takeover and
release happens under one flock, so two drivers never both win a trial.
Hosts sharing a store over NFS must agree on the time to within the lease.
"""
from __future__ import annotations

import atexit
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from ..atomic import replace_whole
from .locks import flock

LEASE_SECONDS = 120.0
_SUFFIX = ".claim"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class Claims:
    """This process's leases on one store. Renewal runs on a daemon thread while
    anything is held; everything still held is released at interpreter exit."""

    def __init__(self, directory: Path, lease_seconds: float = LEASE_SECONDS):
        self.dir = Path(directory)
        self.lease_seconds = float(lease_seconds)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.holder = f"{self.host}-{self.pid}-{uuid.uuid4().hex[:8]}"
        self.held: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._atexit = False

    def __getstate__(self):
        # Ray Tune pickles its callbacks (and the store they hold) into its
        # experiment state: the copy carries the leases, not the heartbeat.
        state = dict(self.__dict__)
        state["_stop"], state["_thread"] = None, None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._stop = threading.Event()

    # -- public ------------------------------------------------------------------
    def claim(self, trial_ids) -> set[str]:
        """Claim what nobody live holds; returns the ids now held by this process."""
        ids = list(dict.fromkeys(trial_ids))
        if not ids:
            return set()
        got: set[str] = set()
        with self._mutex():
            self._write_holder()
            stale: dict[str, bool] = {}
            for tid in ids:
                path = self._path(tid)
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    owner = _read_json(path).get("holder")
                    if owner != self.holder:
                        if owner not in stale:
                            stale[owner] = self._is_stale(owner)
                        if not stale[owner]:
                            continue
                    self._write_claim(path)  # take over a stale claim (or rewrite our own)
                else:
                    with os.fdopen(fd, "w") as fh:
                        fh.write(self._claim_text())
                got.add(tid)
            self.held |= got
            if not self.held:  # nothing won: leave no holder file behind
                (self.dir / "holders" / f"{self.holder}.json").unlink(missing_ok=True)
        if self.held:
            self._start_heartbeat()
        return got

    def release(self, trial_ids=None) -> None:
        """Give up the given claims (all of them when None, and the holder file)."""
        ids = set(self.held) if trial_ids is None else set(trial_ids) & self.held
        if not ids:
            return
        with self._mutex():
            for tid in ids:
                path = self._path(tid)
                if _read_json(path).get("holder") == self.holder:  # never someone else's takeover
                    path.unlink(missing_ok=True)
            self.held -= ids
            if not self.held:
                (self.dir / "holders" / f"{self.holder}.json").unlink(missing_ok=True)
                self._stop.set()

    def holders(self) -> dict[str, dict]:
        """Live holders other than this process: holder id -> its file (pid, host, expires)."""
        out = {}
        for path in sorted((self.dir / "holders").glob("*.json")):
            name = path.stem
            if name != self.holder and not self._is_stale(name):
                out[name] = _read_json(path)
        return out

    # -- inside ------------------------------------------------------------------
    def _mutex(self):
        return flock(self.dir / ".mutex")

    def _path(self, trial_id: str) -> Path:
        if not trial_id or "/" in trial_id or trial_id.startswith("."):
            raise ValueError(f"not a trial id: {trial_id!r}")
        return self.dir / f"{trial_id}{_SUFFIX}"

    def _claim_text(self) -> str:
        return json.dumps({"holder": self.holder, "pid": self.pid, "host": self.host, "at": time.time()})

    def _write_claim(self, path: Path) -> None:
        text = self._claim_text()
        replace_whole(path, lambda tmp: tmp.write_text(text))

    def _write_holder(self) -> None:
        path = self.dir / "holders" / f"{self.holder}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"holder": self.holder, "pid": self.pid, "host": self.host,
                           "expires": time.time() + self.lease_seconds})
        replace_whole(path, lambda tmp: tmp.write_text(text))

    def _is_stale(self, holder: str | None) -> bool:
        if not holder:
            return True  # an empty or torn claim file: its writer died mid-write
        info = _read_json(self.dir / "holders" / f"{holder}.json")
        if not info:
            return True
        if info.get("host") == self.host and isinstance(info.get("pid"), int) and not pid_alive(info["pid"]):
            return True
        expires = info.get("expires")
        return not isinstance(expires, (int, float)) or expires < time.time()

    def _start_heartbeat(self) -> None:
        if not self._atexit:
            atexit.register(self.release)
            self._atexit = True
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="lore-bench-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_seconds / 4):
            try:
                with self._mutex():
                    if self.held:
                        self._write_holder()
            except OSError:
                pass  # a store that is briefly unreachable: try again next beat


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


