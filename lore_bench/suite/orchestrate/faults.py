"""What the driver does when a trial dies: the one-line cause of a failure,
a full disk told apart from a trial's own fault, and the worker deaths that
Ray Tune (2.60) would otherwise turn into an abort of the whole run.

Why the shim: a worker killed by Ray's out-of-memory monitor fails its
in-flight actor task with ``ray.exceptions.OutOfMemoryError`` (Ray's C++
``GetErrorInfoFromActorDeathCause`` maps an actor's OOM death cause to the
error type OUT_OF_MEMORY), which is neither a ``RayActorError`` nor a ``RayTaskError``. Tune's actor manager
(ray/air/execution/_internal/actor_manager.py, ``_actor_task_failed``) raises
``RuntimeError("Caught unexpected exception")`` for anything else, and that
escapes ``tuner.fit()``: nothing stored, queued trials never run. The shim hands
such errors to Tune as the actor death they are, so the trial is retried
(``FailureConfig.max_failures``) and then recorded failed like any other.
"""
from __future__ import annotations

import errno
import re

from ...errors import user_error_line

_OOM = re.compile(r"killed due to the node running low on memory.*?was ([\d.]+GB used / [\d.]+GB limit)", re.S)
_THRESHOLD = re.compile(r"exceeded threshold of \d+B \(([\d.]+%) of")
_IP = re.compile(r"\bip: ([0-9a-fA-F.:]+)")
_WORKER_DIED = ("The actor is dead because its worker process has died", "The actor died unexpectedly",
                "Worker unexpectedly exits")
_NODE_DIED = ("its node has died", "node has died", "NodeDiedError", "raylet died", "node was terminated")
MAX_CAUSE = 240


class DiskFull(Exception):
    """The disk the run writes to is full: the run stops, no trial is blamed."""


def is_disk_full(err: BaseException | str | None) -> bool:
    """Whether an exception (anywhere in its chain) or an error text is ENOSPC."""
    if err is None:
        return False
    if isinstance(err, str):
        return "[Errno 28]" in err or "No space left on device" in err
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return True
        if is_disk_full(str(err)):
            return True
        err = err.__cause__ or err.__context__
    return False


def failure_cause(error: str, attempts: int | None = None) -> str:
    """One line a person can act on, from a trial's error text (a Tune error
    file: one "Failure # n" section per attempt; the last one decides)."""
    text = error.strip()
    sections = re.split(r"^Failure # \d+ \(occurred at [^)]*\)\s*$", text, flags=re.M)
    last = sections[-1].strip() if sections else text
    ip = _IP.search(last)
    where = f" on node {ip.group(1)}" if ip else ""
    if (oom := _OOM.search(last)):
        threshold = _THRESHOLD.search(last)
        limit = f", kill threshold {threshold.group(1)}" if threshold else ""
        cause = f"killed by Ray's out-of-memory monitor ({oom.group(1)}{limit}); give trials more memory or fewer at once"
    elif any(s in last for s in _NODE_DIED):
        cause = f"its node died or left the cluster{where}"
    elif any(s in last for s in _WORKER_DIED):
        cause = (f"its worker process died{where} (killed by a signal: the kernel's out-of-memory killer, "
                 "a SIGKILL, or a crash)")
    elif (marked := user_error_line(last)):  # a data problem's one actionable line (file, what is wrong)
        cause = marked
    else:
        lines = [ln.strip() for ln in last.splitlines() if ln.strip()]
        cause = lines[-1] if lines else "failed (no error text)"
    if len(cause) > MAX_CAUSE:
        cause = cause[:MAX_CAUSE - 3] + "..."
    if attempts and attempts > 1:
        cause += f" [{attempts} attempts]"
    return cause


def attempts_in(error: str) -> int:
    """How many attempts a Tune error file records."""
    return len(re.findall(r"^Failure # \d+", error, flags=re.M))


_installed = False


def survive_worker_deaths() -> None:
    """Make Tune treat a worker killed by Ray (out of memory, lost node) as an
    actor death, not an unexpected error that ends ``tuner.fit()``. Idempotent;
    a no-op if this Ray no longer has the method (the driver's abort guard in
    driver.py still keeps the run going)."""
    global _installed
    if _installed:
        return
    try:
        import ray
        from ray.air.execution._internal.actor_manager import RayActorManager
        from ray.exceptions import RayActorError, RayError, RayTaskError
    except ImportError:  # pragma: no cover - another Ray layout
        return
    original = getattr(RayActorManager, "_actor_task_failed", None)
    if original is None:  # pragma: no cover
        return

    def _actor_task_failed(self, tracked_actor_task, exception):
        if isinstance(exception, RayError) and not isinstance(exception, (RayActorError, RayTaskError)):
            tracked = tracked_actor_task._tracked_actor
            live = getattr(self, "_live_actors_to_ray_actors_resources", {}).get(tracked)
            if live:  # the worker is gone already (OOM kill, dead node); make sure of it
                try:
                    ray.kill(live[0])
                except Exception:  # noqa: BLE001 - a dead actor cannot be killed twice
                    pass
            exception = RayActorError(error_msg=f"{type(exception).__name__}: {exception}")
        return original(self, tracked_actor_task, exception)

    RayActorManager._actor_task_failed = _actor_task_failed
    _installed = True
