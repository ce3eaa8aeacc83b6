"""The driver's Tune callback: stores each finished trial's rows and prints
done / running / failed / pending with an ETA."""
from __future__ import annotations

import json
import os
import time
from typing import Callable

from ray import tune

from ...errors import user_error_line
from ...results.rows import failure_row
from ...results.schema import STATUS_OK
from ...results.store import ResultsStore
from ..spec import TrialSpec
from .trainable import EPOCHS_KEY, ROWS_KEY

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

    def on_trial_start(self, iteration, trials, trial, **info):
        self.running.add(trial.trial_id)
        self.started_at.setdefault(trial.trial_id, time.time())

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if ROWS_KEY not in result:
            return
        rows = json.loads(result[ROWS_KEY])
        epochs = json.loads(result.get(EPOCHS_KEY) or "[]")
        self.store.write_trial(rows, epochs)
        self.store.release([rows[0]["trial_id"]])  # stored first, then released: no other driver reruns it
        statuses = {r.get("status") for r in rows}
        if statuses <= {STATUS_OK}:
            self.summary.ok += 1
            self.summary.stored_ok.add(rows[0]["trial_id"])
        else:
            self.summary.diverged += 1
        self.summary.trial_seconds += sum((r.get("train_seconds") or 0) + (r.get("eval_seconds") or 0) for r in rows)
        top1 = rows[-1].get("top1")
        self._finished(trial, f"{trial_label(trial)}: " + (f"top-1 {top1:.1f}%" if top1 is not None else rows[-1].get("status", "")))

    def on_trial_error(self, iteration, trials, trial, **info):
        spec = TrialSpec.from_json(trial.config["spec"])
        error = _error_text(trial)
        self.store.write_trial([failure_row(spec, error)])
        self.store.release([spec.trial_id])
        self.summary.failed += 1
        # A data problem carries its one actionable line (file and what is wrong) marked;
        # anything else shows the traceback's last line.
        last_line = user_error_line(error) or (error.strip().splitlines()[-1] if error.strip() else "error")
        self.summary.errors.append(f"{spec.short()}: {last_line}")
        self._finished(trial, f"{spec.short()}: FAILED ({last_line})")

    def _finished(self, trial, message: str) -> None:
        self.running.discard(trial.trial_id)
        self.durations.append(time.time() - self.started_at.get(trial.trial_id, self.t0))
        self.pending -= 1
        done = self.summary.ok + self.summary.diverged
        eta = ""
        if self.durations and self.pending > 0:
            per_trial = sum(self.durations) / len(self.durations)
            eta = f" · ETA {fmt_seconds(per_trial * self.pending / self.concurrency)}"
        self.printer(f"[{done + self.summary.failed}/{self.summary.total - self.summary.skipped}] done {done}"
                     f" · running {len(self.running)} · failed {self.summary.failed} · pending"
                     f" {max(0, self.pending - len(self.running))}{eta} — {message}")


def trial_label(trial) -> str:
    try:
        return TrialSpec.from_json(trial.config["spec"]).short()
    except Exception:
        return str(trial)


def _error_text(trial) -> str:
    path = getattr(trial, "error_file", None)
    if path and os.path.exists(path):
        with open(path) as fh:
            return fh.read()[-4000:]
    return "trial failed (no error file)"


def fmt_seconds(s: float) -> str:
    return f"{int(s // 60)}m{int(s % 60):02d}s" if s >= 60 else f"{s:.0f}s"


def trial_dirname(trial) -> str:
    try:
        return TrialSpec.from_json(trial.config["spec"]).trial_id
    except Exception:
        return trial.trial_id
