"""Advisory file locks (flock) for the few store steps that must not interleave.

The kernel drops a flock when its holder dies, so a crashed driver never leaves
a lock behind. Local disks and NFS (Linux maps flock onto NFS byte-range
locks) honour them.
"""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path


class Busy(Exception):
    """The lock is held by someone else and the caller chose not to wait."""


@contextmanager
def flock(path: Path, exclusive: bool = True, wait: float | None = None):
    """Hold ``path`` locked. ``wait``: None blocks until it is free, a number
    gives up with Busy after that many seconds (0: try once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        if wait is None:
            fcntl.flock(fd, mode)
        else:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise Busy(str(path)) from None
                    time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
