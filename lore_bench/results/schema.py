"""The versioned Parquet schema of the results store.

Two tables:
- ``trials``: one row per (trial_id, stage, eval_split) — spec columns, metrics,
  status, timings, provenance;
- ``epochs``: one row per (trial_id, stage, epoch) — training curves.
Every row carries the ``write_id`` of the write that stored it (one call of
``ResultsStore.write_trial``): ids sort in write order, and the newest write of
a trial is what counts. Bump SCHEMA_VERSION when a column changes meaning;
readers accept older versions by filling new columns with nulls (and, for
files before version 3, by deriving the write id from the file name).
"""
from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 4  # 2: gflops; 3: recipe, write_id; 4: test_correct, the tuned protocol's search columns

STATUS_OK, STATUS_FAILED, STATUS_DIVERGED = "ok", "failed", "diverged"
STATUSES = (STATUS_OK, STATUS_FAILED, STATUS_DIVERGED)

TRIALS_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        ("trial_id", pa.string()),
        ("write_id", pa.string()),  # "<20-digit ns>-<random>": sorts in write order
        ("suite", pa.string()),
        # what was run (the spec; spec_json holds all of it)
        ("task", pa.string()),  # classification | retrieval | correspondence | video_segmentation
        ("method", pa.string()),
        ("backbone", pa.string()),
        ("dataset", pa.string()),
        ("protocol", pa.string()),  # few_shot | easy_to_hard | zero_shot | frozen_features
        ("recipe", pa.string()),  # authors | paper | lore_bench: where the method's defaults came from
        ("stage", pa.string()),  # main | easy | hard
        ("eval_split", pa.string()),
        ("shots", pa.int32()),
        ("seed", pa.int32()),
        ("method_config", pa.string()),  # JSON
        ("training_config", pa.string()),  # JSON
        ("spec_json", pa.string()),
        # outcome
        ("status", pa.string()),
        ("error", pa.string()),
        ("top1", pa.float64()),  # %
        ("macro_f1", pa.float64()),  # %
        ("per_class_acc_min", pa.float64()),
        ("per_class_acc", pa.string()),  # JSON list, %
        ("metrics_json", pa.string()),  # task-specific metrics (mAP, PCK, J&F, ...)
        # per test image (in the evaluated split's order): 1 if predicted right; the
        # report's confidence intervals resample these (base64 of numpy.packbits)
        ("test_correct", pa.string()),
        # the tuned protocol (docs/tuned.md): validation on training shots only
        ("val_top1", pa.float64()),  # % on the held-out shots (search: this config; final: the chosen one)
        ("tuned_config", pa.string()),  # JSON: the searched keys' values (final: the chosen configuration)
        ("validation", pa.string()),  # how validation was done, e.g. "hold-out 4 of the 16 training shots per class"
        ("search_configs", pa.int64()),  # final: configurations tried
        ("search_epochs", pa.int64()),  # final: epochs run over the whole search; search: this config's
        ("search_seconds", pa.float64()),  # train + validation seconds of the search
        ("num_train", pa.int64()),
        ("num_eval", pa.int64()),
        ("final_train_loss", pa.float64()),
        # cost
        ("trainable_params", pa.int64()),
        ("total_params", pa.int64()),
        ("train_seconds", pa.float64()),
        ("eval_seconds", pa.float64()),
        ("train_images_per_s", pa.float64()),
        ("eval_images_per_s", pa.float64()),
        ("peak_memory_mb", pa.float64()),  # this trial only: CUDA peak (reset per trial); CPU: its RSS growth
        ("gflops", pa.float64()),  # inference GFLOPs per image
        ("device", pa.string()),
        # provenance
        ("shots_hash", pa.string()),
        ("lore_bench_version", pa.string()),
        ("git_sha", pa.string()),
        ("package_versions", pa.string()),  # JSON
        ("hostname", pa.string()),
        ("finished_at", pa.timestamp("us", tz="UTC")),
    ]
)

EPOCHS_SCHEMA = pa.schema(
    [
        ("schema_version", pa.int32()),
        ("trial_id", pa.string()),
        ("write_id", pa.string()),
        ("stage", pa.string()),
        ("epoch", pa.int32()),
        ("train_loss", pa.float64()),
        ("train_acc", pa.float64()),
        ("lr", pa.float64()),
        ("seconds", pa.float64()),
        ("finished_at", pa.timestamp("us", tz="UTC")),
    ]
)


def conform(rows: list[dict], schema: pa.Schema, write_id: str | None = None) -> pa.Table:
    """Rows (dicts) -> a table of exactly ``schema``; missing keys become nulls,
    unknown keys are an error (they would be silently lost otherwise).
    ``write_id``, when given, is stamped on every row."""
    names = set(schema.names)
    for row in rows:
        extra = set(row) - names
        if extra:
            raise KeyError(f"columns not in the results schema: {sorted(extra)}")
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    columns["schema_version"] = [SCHEMA_VERSION] * len(rows)
    if write_id is not None:
        columns["write_id"] = [write_id] * len(rows)
    return pa.Table.from_pydict(columns, schema=schema)
