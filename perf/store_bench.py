"""Store benchmark: `completed_trial_ids` and `trials()` at 1k/10k/100k stored trials,
the former reader (read every column of every file) against the current one, in one run.

    python perf/store_bench.py                      # 1k and 10k trials, 500 single-trial files (~1 min)
    python perf/store_bench.py --sizes 1000,10000,100000 --small-files 10000

Two layouts per size, built in a temp dir with rows shaped like real rows
(every column filled, JSON spec/config columns of real length, 5 % failed,
10 % of trials with an older failed write that a newer one replaces):
- batched: 1,000 trials per file (how a compacted store looks; builds fast);
- small files: one file per write, as a run leaves them, then the same store
  after `compact`.
"Former" is the reader before schema version 3 (kept below, verbatim in
behaviour): read, cast and concatenate all columns of all files, dedupe per
(trial, stage, split), decide done with a per-trial Python lambda.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lore_bench.results.correctness import pack_correct  # noqa: E402
from lore_bench.results.schema import SCHEMA_VERSION, STATUS_OK, TRIALS_SCHEMA  # noqa: E402
from lore_bench.results.store import ResultsStore  # noqa: E402

METHODS = ["zeroshot_clip", "linear_probe", "coop", "cocoop", "prograd", "clip_adapter", "maple", "vpt", "lore"]
DATASETS = ["flowers102", "stanford_cars", "fgvc_aircraft", "stanford_dogs", "cifar10", "cifar100", "dtd",
            "imagenet", "eurosat", "resisc45", "ucf101", "patternnet"]
PACKAGES = json.dumps({"numpy": "2.4.6", "open_clip_torch": "3.3.0", "pandas": "3.1.1", "pyarrow": "26.0.1",
                       "ray": "2.60.0", "timm": "1.0.31", "torch": "2.14.1", "torchvision": "0.29.1"})
TRAINING = json.dumps({"augment": True, "batch_size": 32, "epochs": 50, "eval_batch_size": 256, "lr": 0.002,
                       "min_lr": 0.0, "momentum": 0.9, "optimizer": "sgd", "precision": "auto", "warmup_epochs": 1,
                       "warmup_lr": 1e-05, "weight_decay": 0.0005}, sort_keys=True)


# -- synthetic rows ------------------------------------------------------------------
#: Test-split sizes of the paper's 12 classification datasets (docs/datasets.md; PatternNet: the
#: 20 % test part of its 30,400 images), so a "cells" store's per-image correctness has real lengths.
TEST_SIZES = {"flowers102": 2463, "stanford_cars": 8041, "fgvc_aircraft": 3333, "stanford_dogs": 8580,
              "cifar10": 10000, "cifar100": 10000, "dtd": 1692, "imagenet": 50000, "eurosat": 8100,
              "resisc45": 6300, "ucf101": 3783, "patternnet": 6080}
SHOTS = np.array([1, 2, 4, 8, 16])
SEEDS = 3


def mixed_fields(i: np.ndarray) -> dict:
    """The "mixed" layout (session 1's): method, dataset, shots and seed cycle independently, so each
    (method, dataset, shots) cell holds ~n/540 rows on 3 seeds -- configurations no suite writes into one
    cell (a trial id includes the config), which the report's statistics would take for seeds."""
    return {"method": [METHODS[k % len(METHODS)] for k in i],
            "dataset": [DATASETS[(k // len(METHODS)) % len(DATASETS)] for k in i],
            "shots": [int(s) for s in SHOTS[i % 5]], "seed": [int(s) for s in (i % SEEDS) + 1],
            "backbone": ["vit_b16_openai"] * len(i), "stage": ["main"] * len(i),
            "eval_split": ["test"] * len(i), "protocol": ["few_shot"] * len(i)}


def cells_fields(i: np.ndarray, main_trials: int | None) -> dict:
    """The "cells" layout, as suites leave a store: trial k is seed k % 3 of one (backbone, shots, method,
    dataset) cell, a new backbone every 9 x 12 x 5 x 3 = 1,620 trials. With ``main_trials``, the trials
    after the first ``main_trials`` are tuned-protocol search trials (stage "search", validation split, no
    per-image correctness) of those cells: the report reads them but its tables skip them, so stores of
    different sizes with the same ``main_trials`` differ only in what a report must read and filter."""
    search = np.zeros(len(i), bool) if main_trials is None else i >= main_trials
    j = i if main_trials is None else i % max(main_trials, 1)  # the cell a search trial tunes
    per_backbone = len(METHODS) * len(DATASETS) * len(SHOTS) * SEEDS
    return {"seed": [int(s) for s in j % SEEDS + 1],
            "method": [METHODS[k // SEEDS % len(METHODS)] for k in j],
            "dataset": [DATASETS[k // (SEEDS * len(METHODS)) % len(DATASETS)] for k in j],
            "shots": [int(s) for s in SHOTS[j // (SEEDS * len(METHODS) * len(DATASETS)) % len(SHOTS)]],
            "backbone": [f"vit_b16_variant{k // per_backbone:03d}" for k in j],
            "stage": np.where(search, "search", "main").tolist(),
            "eval_split": np.where(search, "val", "test").tolist(),
            "protocol": np.where(search, "tuned", "few_shot").tolist()}


def make_rows(first: int, n: int, rng: np.random.Generator, write_ns: np.ndarray, status=None,
              layout: str = "mixed", main_trials: int | None = None) -> pa.Table:
    """Rows of trials first..first+n, one row each, every column of the schema filled; in the "cells"
    layout the main test rows also carry ``test_correct`` of their dataset's real test size."""
    i = np.arange(first, first + n)
    f = mixed_fields(i) if layout == "mixed" else cells_fields(i, main_trials)
    method, dataset, shots, seed = f["method"], f["dataset"], f["shots"], f["seed"]
    tid = [f"{int(k) * 2654435761 % (1 << 64):016x}" for k in i]
    if status is None:
        status = np.where(rng.random(n) < 0.05, "failed", STATUS_OK)
    top1 = np.where(status == STATUS_OK, rng.uniform(40, 95, n), np.nan)
    num_eval = [TEST_SIZES[d] if layout == "cells" else 2463 for d in dataset]
    correct = [pack_correct(rng.random(m) < t / 100) if layout == "cells" and s == "test" and t == t else None
               for m, t, s in zip(num_eval, top1, f["eval_split"])]
    spec = [json.dumps({"backbone": {"arch": "ViT-B-16", "name": "vit_b16_openai", "pretrained": "openai",
                                     "type": "open_clip"}, "benchmark_version": "1", "data_root": None,
                        "dataset": d, "method": m, "method_config": {"n_ctx": 16, "ctx_init": "a photo of a"},
                        "plugin": None, "protocol": "few_shot", "seed": s, "shots": k, "suite": "bench",
                        "training": json.loads(TRAINING)}, sort_keys=True)
            for d, m, s, k in zip(dataset, method, seed, shots)]
    per_class = [json.dumps([round(float(x), 1) for x in rng.uniform(0, 100, 10)]) for _ in range(n)]
    finished = pa.array(write_ns // 1000, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    cols = {
        "schema_version": [SCHEMA_VERSION] * n, "trial_id": tid,
        "write_id": [f"{int(w):020d}-{int(k):08x}" for w, k in zip(write_ns, i)], "suite": ["bench"] * n,
        "task": ["classification"] * n, "method": method, "backbone": f["backbone"], "dataset": dataset,
        "protocol": f["protocol"], "stage": f["stage"], "eval_split": f["eval_split"], "shots": shots,
        "seed": seed, "method_config": ['{"ctx_init":"a photo of a","n_ctx":16}'] * n,
        "training_config": [TRAINING] * n, "spec_json": spec, "status": list(status),
        "error": [None if s == STATUS_OK else "RuntimeError: CUDA out of memory" for s in status],
        "top1": top1, "macro_f1": top1 - 1, "per_class_acc_min": top1 - 20, "per_class_acc": per_class,
        "metrics_json": [None] * n, "num_train": [k * 100 for k in shots], "num_eval": num_eval,
        "final_train_loss": rng.uniform(0.1, 2, n), "trainable_params": [8192] * n, "total_params": [149620737] * n,
        "train_seconds": rng.uniform(10, 900, n), "eval_seconds": rng.uniform(5, 60, n),
        "train_images_per_s": rng.uniform(100, 1400, n), "eval_images_per_s": rng.uniform(1000, 6000, n),
        "peak_memory_mb": rng.uniform(2000, 20000, n), "gflops": [17.6] * n, "device": ["NVIDIA H200"] * n,
        "shots_hash": [f"{k:016x}" for k in i], "lore_bench_version": ["0.1.0"] * n, "git_sha": ["57982ee" * 5] * n,
        "package_versions": [PACKAGES] * n, "hostname": ["node-1"] * n, "finished_at": finished,
        "recipe": ["authors"] * n, "test_correct": correct,
    }
    for f in TRIALS_SCHEMA:  # columns a later schema added: null, as an older writer leaves them
        cols.setdefault(f.name, pa.nulls(n, f.type))
    return pa.Table.from_pydict(cols, schema=TRIALS_SCHEMA)


def build(root: str, n: int, per_file: int, seed: int = 0, layout: str = "mixed", main_trials: int | None = None) -> None:
    """A store of n trials: 10 % first stored as failed, then replaced by a newer write."""
    rng = np.random.default_rng(seed)
    out = os.path.join(root, "trials")
    os.makedirs(out, exist_ok=True)
    t0 = time.time_ns()
    reruns = rng.random(n) < 0.10
    for first in range(0, n, per_file):
        k = min(per_file, n - first)
        tables = [make_rows(first, k, rng, t0 + np.arange(first, first + k) * 1000 + 10**9,
                            layout=layout, main_trials=main_trials)]
        old = np.nonzero(reruns[first:first + k])[0]
        if len(old):
            stale = make_rows(first, k, rng, t0 + np.arange(first, first + k) * 1000, np.array(["failed"] * k),
                              layout=layout, main_trials=main_trials)
            tables.append(stale.take(pa.array(old)))
        for t in tables:
            if per_file == 1:
                for j in range(t.num_rows):
                    row = t.slice(j, 1)
                    pq.write_table(row, os.path.join(out, f"{row['trial_id'][0]}-{row['write_id'][0]}.parquet"))
            else:
                pq.write_table(t, os.path.join(out, f"batch-{t['write_id'][0]}.parquet"))


# -- the reader before schema version 3 --------------------------------------------------
FORMER_SCHEMA = pa.schema([f for f in TRIALS_SCHEMA if f.name != "write_id"])


def former_trials(root: str) -> pd.DataFrame:
    files = sorted(p for p in os.listdir(os.path.join(root, "trials")) if p.endswith(".parquet"))
    aligned = []
    for f in files:
        t = pq.read_table(os.path.join(root, "trials", f))
        for field in FORMER_SCHEMA:
            if field.name not in t.column_names:
                t = t.append_column(field, pa.nulls(len(t), field.type))
        aligned.append(t.select(FORMER_SCHEMA.names).cast(FORMER_SCHEMA))
    df = pa.concat_tables(aligned).to_pandas()
    df = df.sort_values("finished_at", kind="stable")
    return df.drop_duplicates(["trial_id", "stage", "eval_split"], keep="last").reset_index(drop=True)


def former_completed(root: str) -> set[str]:
    df = former_trials(root)
    ok = df.groupby("trial_id")["status"].apply(lambda s: bool((s == STATUS_OK).all()))
    return set(ok[ok].index)


# -- measuring -------------------------------------------------------------------------
def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def measure(label: str, root: str, former: bool, lines: list) -> None:
    store = ResultsStore(root)
    files = len(os.listdir(os.path.join(root, "trials")))
    index = os.path.join(root, "index", "trials-keys.parquet")
    if os.path.exists(index):  # "cold": the key index is built by this first call
        os.remove(index)
    t_cold, done = timed(store.completed_trial_ids)
    t_warm, done2 = timed(store.completed_trial_ids)
    t_rows, df = timed(store.trials)
    assert done == done2 and df["trial_id"].is_unique
    f_done = f_rows = None
    if former:
        f_done, old_done = timed(lambda: former_completed(root))
        f_rows, _ = timed(lambda: former_trials(root))
        assert old_done == done, "the former and current readers disagree on what is done"
    lines.append((label, files, len(df), f_done, t_cold, t_warm, f_rows, t_rows))
    print(_fmt(lines[-1]), flush=True)


def _fmt(line) -> str:
    label, files, trials, f_done, cold, warm, f_rows, rows = line
    def s(x):
        return "       -" if x is None else f"{x:8.3f}"
    def r(a, b):
        return "      -" if a is None else f"{a / b:6.1f}x"
    return (f"{label:28s} {files:7d} {trials:8d} | {s(f_done)} {s(cold)} {s(warm)} {r(f_done, warm)} | "
            f"{s(f_rows)} {s(rows)} {r(f_rows, rows)}")


HEADER = (f"{'store':28s} {'files':>7s} {'trials':>8s} | {'former':>8s} {'cold':>8s} {'indexed':>8s} {'ratio':>7s} | "
          f"{'former':>8s} {'current':>8s} {'ratio':>7s}\n{'':46s}   completed_trial_ids (s)              "
          f"     trials() (s)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000,10000", help="trial counts of the batched stores (comma-separated)")
    p.add_argument("--small-files", type=int, default=500, help="trials of the one-file-per-write store (0: skip)")
    p.add_argument("--per-file", type=int, default=1000, help="trials per file in the batched stores")
    p.add_argument("--no-former", action="store_true", help="skip the former reader (slow at 100k)")
    p.add_argument("--keep", help="build the stores under this folder and keep them")
    args = p.parse_args()
    base = args.keep or tempfile.mkdtemp(prefix="store-bench-")
    lines: list = []
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; stores under {base}")
    print(HEADER)
    try:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
        for n in sizes:
            root = os.path.join(base, f"batched-{n}")
            t, _ = timed(lambda: build(root, n, args.per_file))
            measure(f"batched {n} (built {t:.0f}s)", root, not args.no_former, lines)
            if n == max(sizes):  # the store as `run` and `compact` leave it: one file
                t, _ = timed(lambda: ResultsStore(root).compact())
                measure(f"  after compact ({t:.1f}s)", root, False, lines)
        if args.small_files:
            n = args.small_files
            root = os.path.join(base, f"small-{n}")
            t, _ = timed(lambda: build(root, n, 1))
            measure(f"small files {n} (built {t:.0f}s)", root, not args.no_former, lines)
            t, _ = timed(lambda: ResultsStore(root).compact())
            measure(f"  after compact ({t:.1f}s)", root, not args.no_former, lines)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
