"""The Ray Tune trainable: one TrialSpec in, metrics out through ``tune.report``.

It runs the plain engine; rows travel back to the driver inside the last
report, so workers never write the results store (no shared filesystem
needed for results). Once that report returns (the driver has stored the rows)
the trial's checkpoint is removed, unless the run keeps it.
"""
from __future__ import annotations

import json
import time

from ray import tune

from ..run import run_trial
from ..spec import TrialSpec
from .checkpoints import discard

ROWS_KEY = "lore_rows"
#: Seconds the trial waited inside its progress reports (Tune's reports block until the driver takes them).
REPORT_WAIT_KEY = "lore_report_wait_s"
EPOCHS_KEY = "lore_epochs"
#: A stoppable trial's rows as of this epoch: stored if its scheduler stops it here.
PARTIAL_ROWS_KEY = "lore_partial_rows"
#: A trial's progress goes to Tune at most this often. Tune's function
#: trainables report synchronously (the trial waits until the driver's loop has
#: taken the result), so a report per epoch of a short trial costs more than it
#: shows; a search trial reports every epoch, its scheduler decides on each.
PROGRESS_EVERY_S = 5.0


def lore_trainable(config: dict) -> None:
    spec = TrialSpec.from_json(config["spec"])
    waited = [0.0]
    last_report = [time.monotonic()]

    def on_epoch(record: dict) -> None:
        # Progress for the dashboard; not the stored result.
        metrics = {"epoch": record["epoch"], "epochs_total": record["epochs_total"],
                   "train_loss": record["train_loss"], "train_acc": record["train_acc"]}
        if "val_top1" in record:  # a search trial: the score its scheduler decides on
            metrics["val_top1"] = record["val_top1"]
            metrics[PARTIAL_ROWS_KEY] = json.dumps(record.get("partial_rows") or [], default=str)
        elif time.monotonic() - last_report[0] < PROGRESS_EVERY_S:
            return
        t = time.monotonic()
        tune.report(metrics)
        last_report[0] = time.monotonic()
        waited[0] += last_report[0] - t

    keep = config.get("keep_checkpoints")
    kept = keep is True or spec.trial_id in (keep or ())
    out = run_trial(spec, on_epoch=on_epoch, checkpoint_dir=config.get("checkpoint_dir"), keep_checkpoint=kept)
    final = out.rows[-1]
    tune.report({"top1": final.get("top1") if final.get("top1") is not None else -1.0,
                 ROWS_KEY: json.dumps(out.rows, default=str), EPOCHS_KEY: json.dumps(out.epochs),
                 REPORT_WAIT_KEY: waited[0]})
    # Tune's function trainables report synchronously: we get here only after
    # the driver's callback stored the rows.
    if not kept:
        discard(config.get("checkpoint_dir"), spec.trial_id)
