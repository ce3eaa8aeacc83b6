"""How the tuned protocol's two kinds of trial run (tuned.py says what they are).

A search trial reads the train split only (never ``load_split("test")``):
it trains one configuration on the K shots minus the held-out share and
scores the held-out share after every epoch. Each score goes to the
orchestrator (its scheduler may stop the trial there) and into the trial's
validation record, ``<checkpoint dir>/<trial id>/validation.json`` — kept for
the final trial like a White Box checkpoint is for a frozen-feature trial.

The final trial reads the records of its search trials, takes the best
configuration, retrains it on all K shots and evaluates it on the test split.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np

from ...benchmarks import get_dataset
from ...benchmarks.sampling.few_shot import _seed_for, sample_few_shot, shots_hash
from ...results.schema import STATUS_DIVERGED, STATUS_OK
from ..engine.checkpoint import checkpoint_root
from ..engine.context import ClassificationTrial, TrialOutput, TrialRun, build_method, classification_trial, load_split
from ..engine.evaluate import predict
from ..engine.fit import fit
from ..engine.rows import base_row, result_row
from ..spec import TrialSpec, canonical_json
from ..training import TrainingConfig
from .base import ProtocolInputs
from .tuned_config import config_of

RECORD_FILE = "validation.json"


class MissingSearchError(RuntimeError):
    """A final trial found no validation record of its search trials."""


def holdout_split(labels: np.ndarray, indices: np.ndarray, share: float, dataset: str, shots: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: per class, round(share x n) of the class's
    sampled shots (at least one, at most n - 1) are held out, chosen by a
    seeded generator (a pure function of the arguments)."""
    rng = np.random.default_rng(_seed_for("holdout", dataset, shots, seed, share))
    labels = np.asarray(labels)[indices]
    fit_idx, val_idx = [], []
    for cls in np.unique(labels):
        members = indices[labels == cls]
        n_val = min(len(members) - 1, max(1, int(round(share * len(members)))))
        held = set(rng.choice(len(members), size=max(0, n_val), replace=False).tolist())
        for j, i in enumerate(members):
            (val_idx if j in held else fit_idx).append(int(i))
    return np.asarray(fit_idx, dtype=np.int64), np.asarray(val_idx, dtype=np.int64)


def validation_text(spec: TrialSpec, n_val: int | None = None) -> str:
    cfg = config_of(spec)
    if spec.shots < 2:
        return "none: 1 shot per class leaves nothing to hold out; the recipe is used"
    per_class = min(spec.shots - 1, max(1, int(round(cfg.val_share * spec.shots))))
    return f"hold-out {per_class} of the {spec.shots} training shots per class" + (
        f" ({n_val} images)" if n_val is not None else "")


class RecordFile:
    """A search trial's validation record beside its checkpoints (a folder or a URI root)."""

    def __init__(self, checkpoint_dir, trial_id: str):
        self.root, self.trial_id = checkpoint_root(checkpoint_dir), trial_id

    def read(self) -> dict | None:
        data = self.root.get_bytes(self.trial_id, RECORD_FILE)
        return json.loads(data) if data is not None else None

    def write(self, record: dict) -> None:
        self.root.put_bytes(self.trial_id, RECORD_FILE, json.dumps(record).encode())


def record_file(checkpoint_dir, trial_id: str) -> RecordFile | None:
    return RecordFile(checkpoint_dir, trial_id) if checkpoint_dir else None


def _accuracy(run: TrialRun, split) -> float:
    pred = predict(run, split)
    return 100.0 * float(np.mean(pred == np.asarray(split.labels))) if len(pred) else 0.0


def run_search(inputs: ProtocolInputs) -> TrialOutput:
    spec = inputs.spec
    cfg = config_of(spec)
    dataset = get_dataset(spec.dataset, spec.data_root)
    train_full = load_split(spec.dataset, spec.data_root, "train")  # the test split is never read here
    indices = sample_few_shot(train_full, spec.dataset, "train", spec.shots, spec.seed)
    fit_idx, val_idx = holdout_split(train_full.labels, indices, cfg.val_share, spec.dataset, spec.shots, spec.seed)
    method = build_method(spec, inputs.backbone, inputs.device, dataset)
    training = TrainingConfig(**spec.training)
    ckpt = (checkpoint_root(inputs.checkpoint_dir).trial(spec.trial_id, training.checkpoint_every_s, False)
            if inputs.checkpoint_dir else None)
    run = TrialRun(spec, inputs.device, training, method, None, ckpt)
    shots = ClassificationTrial(run, dataset, train_full, None)
    train_part, val_part = shots.train_subset(fit_idx), shots.train_subset(val_idx)
    path = record_file(inputs.checkpoint_dir, spec.trial_id)
    old = (path.read() if path else None) or {}
    record = {"config": spec.protocol_config.get("config"), "searched": spec.protocol_config.get("searched"),
              "epochs": run.training.epochs, "scores": old.get("scores", []), "seconds": old.get("seconds", 0.0),
              "completed": False}

    def row_now(status: str = STATUS_OK, extra: dict | None = None) -> dict:
        scores = record["scores"]
        return {**base_row(spec, method, shots_hash(train_full, fit_idx)), "stage": "search", "eval_split": "val",
                "status": status, "num_train": len(fit_idx), "num_eval": len(val_idx),
                "val_top1": scores[-1] if scores else None, "search_epochs": len(scores),
                "search_seconds": record["seconds"], "train_seconds": record["seconds"],
                "tuned_config": canonical_json(record["searched"]), "validation": validation_text(spec, len(val_idx)),
                **(extra or {})}

    def score(epoch_seconds: float) -> float:
        t0 = time.perf_counter()
        value = _accuracy(run, val_part)
        record["scores"].append(value)
        record["seconds"] += epoch_seconds + time.perf_counter() - t0
        if path:
            path.write(record)
        return value

    def on_epoch(rec: dict) -> None:
        value = score(rec["seconds"])
        if inputs.on_epoch:  # the scheduler decides here; if it stops us, this row is what is stored
            inputs.on_epoch({**rec, "val_top1": value, "partial_rows": [row_now()]})

    run.on_epoch = on_epoch
    stage = fit(run, train_part, "main", run.training)
    if stage.diverged:
        record["diverged"] = True
        if path:
            path.write(record)
        return TrialOutput([row_now(STATUS_DIVERGED, {"error": stage.row.get("error")})], stage.epochs)
    if not stage.epochs:  # fitted in prepare() only: one score
        score(stage.row.get("train_seconds") or 0.0)
    record["completed"] = True
    if path:
        path.write(record)
    return TrialOutput([row_now(extra={"final_train_loss": stage.row.get("final_train_loss")})], stage.epochs)


def pick_best(records: list[dict]) -> dict:
    """The configuration with the best last validation score among those that
    ran their full budget (a configuration the scheduler stopped early is
    judged on a shorter run; it wins only if none finished); ties: the lower
    index, i.e. the recipe first."""
    usable = [r for r in records if r.get("scores") and not r.get("diverged")]
    # ASHA also "stops" a configuration at its last epoch (max_t): what counts is the epochs it ran.
    finished = [r for r in usable if r.get("completed") or len(r["scores"]) >= int(r.get("epochs") or 0)] or usable
    if not finished:
        raise MissingSearchError("every search configuration diverged or left no score")
    return max(finished, key=lambda r: (r["scores"][-1], -int(r["config"])))


def read_records(checkpoint_dir, searches: list[TrialSpec]) -> list[tuple[TrialSpec, dict]]:
    out = []
    for spec in searches:
        path = record_file(checkpoint_dir, spec.trial_id)
        record = path.read() if path else None
        if record is not None:
            out.append((spec, record))
    if not out:
        raise MissingSearchError(
            f"no validation record of the {len(searches)} search trials under {checkpoint_dir}; the orchestrator "
            "runs them first (on a cluster, give the workers a shared checkpoint directory)")
    return out


def run_final(inputs: ProtocolInputs, searches: list[TrialSpec]) -> TrialOutput:
    spec = inputs.spec
    if not searches:  # 1 shot, or nothing to search: the recipe, said so in the row
        trial = classification_trial(spec, inputs.backbone, inputs.device, inputs.checkpoint_dir, inputs.on_epoch,
                                     keep_checkpoint=inputs.keep_checkpoint)
        indices = sample_few_shot(trial.train_full, spec.dataset, "train", spec.shots, spec.seed)
        stage = fit(trial.run, trial.train_subset(indices), "main", trial.run.training)
        row = result_row(trial.run, stage, trial.test, trial.train_full, indices)
        why = validation_text(spec) if spec.shots < 2 else "none: the method declares no search space"
        return TrialOutput([{**row, "validation": why, "search_configs": 0, "search_epochs": 0,
                             "search_seconds": 0.0, "tuned_config": "{}"}], stage.epochs)
    records = read_records(inputs.checkpoint_dir, searches)
    best = pick_best([r for _, r in records])
    chosen = next(s for s, r in records if r is best)
    trial = classification_trial(chosen, inputs.backbone, inputs.device, None, inputs.on_epoch)
    # Trained as the chosen configuration, stored (and checkpointed) as the final trial.
    trial.run.spec = replace(spec)
    trial.run.checkpoint = (checkpoint_root(inputs.checkpoint_dir).trial(
        spec.trial_id, trial.run.training.checkpoint_every_s, inputs.keep_checkpoint) if inputs.checkpoint_dir else None)
    indices = sample_few_shot(trial.train_full, spec.dataset, "train", spec.shots, spec.seed)
    stage = fit(trial.run, trial.train_subset(indices), "main", trial.run.training)
    row = result_row(trial.run, stage, trial.test, trial.train_full, indices)
    row.update({"method_config": canonical_json(chosen.method_config),
                "training_config": canonical_json(chosen.training),
                "tuned_config": canonical_json(best["searched"]), "val_top1": best["scores"][-1],
                "search_configs": len(records), "search_epochs": sum(len(r["scores"]) for _, r in records),
                "search_seconds": float(sum(r.get("seconds", 0.0) for _, r in records)),
                "validation": validation_text(spec, None)})
    return TrialOutput([row], stage.epochs)
