"""The driver's Tune callback: stores each finished trial's rows, records a
trial that failed (after its retries) once with a one-line cause, stops the run
on a full disk, and prints done / running / failed / pending with an ETA."""
from __future__ import annotations

import json
import os
import time
from typing import Callable

from ray import tune

from ...results.rows import failure_row
from ...results.schema import STATUS_OK
from ...results.store import ResultsStore
from ..spec import TrialSpec
from .checkpoints import remove_partial_files
from .faults import DiskFull, attempts_in, failure_cause, is_disk_full
from .trainable import EPOCHS_KEY, PARTIAL_ROWS_KEY, REPORT_WAIT_KEY, ROWS_KEY

Printer = Callable[[str], None]


class StoreCallback(tune.Callback):
    """Writes each finished trial's rows to the store and prints progress."""

    def __init__(self, store: ResultsStore, summary, pending: int, printer: Printer, concurrency: int):
        self.store, self.summary, self.printer = store, summary, printer
        self.pending, self.running = pending, set()
        self.started_at: dict[str, float] = {}
        self.durations: list[float] = []
        self.concurrency = max(1, concurrency)
        self.t0 = time.time()
        self.running_specs: set[str] = set()  # spec trial_ids Tune is running now
        self.finished: set[str] = set()  # spec trial_ids recorded by this loop
        self.fatal: str | None = None  # set when the run must stop (a full disk)
        self.partial: dict[str, list[dict]] = {}  # Tune trial id -> rows as of its last epoch (stoppable trials)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.running.add(trial.trial_id)
        self.running_specs.add(_spec_id(trial))
        self.started_at.setdefault(trial.trial_id, time.time())

    def on_trial_recover(self, iteration, trials, trial, **info):
        error = _error_text(trial)
        self._stop_if_disk_full(error)
        self.printer(f"{trial_label(trial)}: retrying after attempt {_attempts(trial, error)} failed "
                     f"({failure_cause(error)})")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if PARTIAL_ROWS_KEY in result:
            self.partial[trial.trial_id] = json.loads(result[PARTIAL_ROWS_KEY])
        if ROWS_KEY not in result:
            return
        self.partial.pop(trial.trial_id, None)
        self.summary.timeline.report_wait += float(result.get(REPORT_WAIT_KEY) or 0.0)
        self._store(trial, json.loads(result[ROWS_KEY]), json.loads(result.get(EPOCHS_KEY) or "[]"))

    def on_trial_complete(self, iteration, trials, trial, **info):
        """A trial its scheduler stopped early ends without its last report: its
        rows as of the epoch it was stopped at are what is stored."""
        rows = self.partial.pop(trial.trial_id, None)
        if rows and rows[0]["trial_id"] not in self.finished:
            self._store(trial, rows, [], note="ended by the scheduler")

    def _store(self, trial, rows: list[dict], epochs: list[dict], note: str = "") -> None:
        self._write(rows, epochs)
        self.finished.add(rows[0]["trial_id"])
        statuses = {r.get("status") for r in rows}
        if statuses <= {STATUS_OK}:
            self.summary.ok += 1
            self.summary.stored_ok.add(rows[0]["trial_id"])
        else:
            self.summary.diverged += 1
        own = sum((r.get("train_seconds") or 0) + (r.get("eval_seconds") or 0) for r in rows)
        self.summary.trial_seconds += own
        top1, val = rows[-1].get("top1"), rows[-1].get("val_top1")
        what = (f"top-1 {top1:.1f}%" if top1 is not None else f"validation {val:.1f}%" if val is not None
                else rows[-1].get("status", ""))
        self._finished(trial, f"{trial_label(trial)}: {what}" + (f" ({note})" if note else ""), own=own)

    def on_trial_error(self, iteration, trials, trial, **info):
        spec = TrialSpec.from_json(trial.config["spec"])
        error = _error_text(trial)
        self._stop_if_disk_full(error)
        last_line = failure_cause(error, _attempts(trial, error))
        self.record_failure(spec, last_line, error, trial)

    def record_failure(self, spec: TrialSpec, cause: str, error: str = "", trial=None) -> None:
        """Store the one failure row of a trial (after its retries), cause last."""
        self._write([failure_row(spec, _with_cause(error, cause))])
        self.finished.add(spec.trial_id)
        self.summary.failed += 1
        self.summary.errors.append(f"{spec.short()}: {cause}")
        self._finished(trial, f"{spec.short()}: FAILED ({cause})", spec.trial_id)

    # -- faults: the store write and a full disk -----------------------------------
    def _write(self, rows: list[dict], epochs: list[dict] | None = None) -> None:
        try:
            self.store.write_trial(rows, epochs)
            self.store.release([rows[0]["trial_id"]])  # stored first, then released: no other driver reruns it
        except OSError as err:
            if not is_disk_full(err):
                raise
            trial_id = rows[0]["trial_id"]
            for sub in ("trials", "epochs"):  # what the torn write left (the store may clean up itself)
                remove_partial_files(self.store.root / sub, trial_id)
            self.fatal = (f"no space left on device writing the results of trial {trial_id} under "
                          f"{self.store.root}; everything stored before is intact")
            raise DiskFull(self.fatal) from None

    def _stop_if_disk_full(self, error: str) -> None:
        if is_disk_full(error):
            self.fatal = f"no space left on device on a worker: {failure_cause(error)}"
            raise DiskFull(self.fatal)

    def _finished(self, trial, message: str, spec_id: str | None = None, own: float = 0.0) -> None:
        """``own``: the trial's train + eval seconds (the run's timeline sets them against its span)."""
        tune_id = trial.trial_id if trial is not None else None
        self.running.discard(tune_id)
        self.running_specs.discard(spec_id or _spec_id(trial))
        now = time.time()
        if tune_id in self.started_at:
            self.summary.timeline.add(self.started_at[tune_id], now, own)
        self.durations.append(now - self.started_at.get(tune_id, self.t0))
        self.pending -= 1
        done = self.summary.ok + self.summary.diverged
        eta = ""
        if self.durations and self.pending > 0:
            per_trial = sum(self.durations) / len(self.durations)
            eta = f" · ETA {fmt_seconds(per_trial * self.pending / self.concurrency)}"
        self.printer(f"[{done + self.summary.failed}/{self.summary.total - self.summary.skipped}] done {done}"
                     f" · running {len(self.running)} · failed {self.summary.failed} · pending"
                     f" {max(0, self.pending - len(self.running))}{eta} — {message}")


def _attempts(trial, error: str) -> int:
    """Failed attempts so far: Tune's own count, else the error file's sections."""
    failures = getattr(getattr(trial, "run_metadata", None), "num_failures", None)
    return failures if isinstance(failures, int) and failures > 0 else max(1, attempts_in(error))


def _spec_id(trial) -> str | None:
    try:
        return TrialSpec.from_json(trial.config["spec"]).trial_id
    except Exception:
        return None


def _with_cause(error: str, cause: str) -> str:
    """The stored error: the traceback's tail, then the cause as its last line
    (the report's failed-trials table shows the last line)."""
    tail = error.strip()[-4000:]
    if not tail or tail.splitlines()[-1].strip() != cause:
        tail = f"{tail}\n{cause}" if tail else cause
    return tail


def trial_label(trial) -> str:
    try:
        return TrialSpec.from_json(trial.config["spec"]).short()
    except Exception:
        return str(trial)


def _error_text(trial) -> str:
    path = getattr(trial, "error_file", None)
    if path and os.path.exists(path):
        with open(path) as fh:
            return fh.read()[-64_000:]  # the cause is found in the last attempt; the row keeps a shorter tail
    return "trial failed (no error file)"


def fmt_seconds(s: float) -> str:
    return f"{int(s // 60)}m{int(s % 60):02d}s" if s >= 60 else f"{s:.0f}s"


def trial_dirname(trial) -> str:
    try:
        return TrialSpec.from_json(trial.config["spec"]).trial_id
    except Exception:
        return trial.trial_id
