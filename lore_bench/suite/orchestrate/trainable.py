"""The Ray Tune trainable: one TrialSpec in, metrics out through ``tune.report``.

It runs the plain engine; rows travel back to the driver inside the last
report, so workers never write the results store (no shared filesystem
needed for results). Once that report returns (the driver has stored the rows)
the trial's checkpoint is removed, unless the run keeps it.
"""
from __future__ import annotations

import json

from ray import tune

from ..run import run_trial
from ..spec import TrialSpec
from .checkpoints import discard

ROWS_KEY = "lore_rows"
EPOCHS_KEY = "lore_epochs"
#: A stoppable trial's rows as of this epoch: stored if its scheduler stops it here.
PARTIAL_ROWS_KEY = "lore_partial_rows"


def lore_trainable(config: dict) -> None:
    spec = TrialSpec.from_json(config["spec"])

    def on_epoch(record: dict) -> None:
        # Progress for the dashboard and the driver's ETA; not the stored result.
        metrics = {"epoch": record["epoch"], "epochs_total": record["epochs_total"],
                   "train_loss": record["train_loss"], "train_acc": record["train_acc"]}
        if "val_top1" in record:  # a search trial: the score its scheduler decides on
            metrics["val_top1"] = record["val_top1"]
            metrics[PARTIAL_ROWS_KEY] = json.dumps(record.get("partial_rows") or [], default=str)
        tune.report(metrics)

    keep = config.get("keep_checkpoints")
    kept = keep is True or spec.trial_id in (keep or ())
    out = run_trial(spec, on_epoch=on_epoch, checkpoint_dir=config.get("checkpoint_dir"), keep_checkpoint=kept)
    final = out.rows[-1]
    tune.report({"top1": final.get("top1") if final.get("top1") is not None else -1.0,
                 ROWS_KEY: json.dumps(out.rows, default=str), EPOCHS_KEY: json.dumps(out.epochs)})
    # Tune's function trainables report synchronously: we get here only after
    # the driver's callback stored the rows.
    if not kept:
        discard(config.get("checkpoint_dir"), spec.trial_id)
