"""From store rows to the numbers every table and plot shares.

One place computes "mean ± std over seeds" and "the average over datasets", so
Table 1, the few-shot curves and the terminal summary can never disagree.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lore_bench.results.schema import STATUS_OK
from lore_bench.results.store import ResultsStore

# The paper's column and row order; anything else follows alphabetically.
PAPER_DATASETS = [
    "flowers102", "stanford_cars", "fgvc_aircraft", "stanford_dogs", "cifar10", "cifar100",
    "dtd", "imagenet", "eurosat", "resisc45", "ucf101", "patternnet",
]
PAPER_METHODS = [
    "zeroshot_clip", "linear_probe", "coop", "cocoop", "prograd", "clip_adapter", "maple",
    "vpt", "lore_without_kla", "lore",
]
AVERAGE = "Average"
MISSING = "–"  # en dash: a cell with no ok result


#: The columns the report's shared steps read (normalise, ok_rows, problem_rows,
#: the status counts and the notes); tables declare what else they need.
BASE_COLUMNS = ("trial_id", "suite", "task", "method", "backbone", "dataset", "protocol", "recipe", "stage",
                "eval_split", "shots", "seed", "status", "error", "top1", "lore_bench_version", "spec_json")


class ReportError(ValueError):
    """Nothing to report (no store, no rows, unknown suite); the message says why."""


def load_trials(results_dir: str | Path, suite: str | None = None, columns: list[str] | None = None,
                raw: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows of the store at ``results_dir`` (the store root, or its ``trials/``
    folder), deduped by the store itself, normalised by :func:`normalise`.
    ``columns``: only these are read (None: all); ``raw``: rows already read
    from that store (``ResultsStore.trials``), so it is not read twice."""
    root = Path(results_dir).expanduser()
    if not (root / "trials").is_dir() and root.name == "trials" and any(root.glob("*.parquet")):
        root = root.parent
    if not (root / "trials").is_dir():
        raise ReportError(f"no results store at {root} (expected {root / 'trials'}/*.parquet)")
    df = raw if raw is not None else ResultsStore(root).trials(columns=columns)
    if df.empty:
        raise ReportError(f"the results store at {root} has no trial rows yet")
    if suite is not None:
        suites = sorted(df["suite"].dropna().unique())
        df = df[df["suite"] == suite]
        if df.empty:
            raise ReportError(f"no rows for suite {suite!r} in {root}; suites there: {suites}")
    return normalise(df)


def _backbone_name(value) -> str:
    # The store keeps the backbone's name; tolerate a JSON config just in case.
    if isinstance(value, str) and value.startswith("{"):
        try:
            return str(json.loads(value).get("name", value))
        except ValueError:
            return value
    return "?" if value is None or pd.isna(value) else str(value)


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Fill the gaps older or partial rows may have, so grouping never drops rows."""
    df = df.copy()
    df["backbone"] = df["backbone"].map(_backbone_name)
    df["protocol"] = df["protocol"].fillna("few_shot")
    df["stage"] = df["stage"].fillna("main")
    df["status"] = df["status"].fillna("failed")
    df["shots"] = df["shots"].fillna(-1).astype(int)
    df["seed"] = df["seed"].fillna(-1).astype(int)
    # Zero-shot is the 0-shot point of the few-shot protocol, as in the paper.
    # (frozen-feature tasks also run with 0 shots but are not classification).
    df["zero_shot"] = ((df["shots"] == 0) & (df["protocol"] == "few_shot")) | (df["protocol"] == "zero_shot")
    return split_recipes(df)


#: What makes two rows the same seed of one table cell. Trials whose rows share all of it differ in
#: their configuration (a trial id hashes the whole config): a table would average them as seeds.
CELL_SEED = ["method", "backbone", "dataset", "protocol", "shots", "seed", "stage", "eval_split"]


def _trials_per_cell_seed(df: pd.DataFrame) -> pd.Series:
    return df.groupby(CELL_SEED, dropna=False, sort=False)["trial_id"].transform("nunique")


def split_recipes(df: pd.DataFrame) -> pd.DataFrame:
    """A method stored under several recipes (suites with ``recipe: authors`` and
    ``recipe: corrected`` writing into one store) whose trials meet in one cell and
    seed becomes one method per recipe, "coop (authors)" and "coop (corrected)",
    instead of rows the tables would average as seeds of one method."""
    if df.empty or "recipe" not in df or "trial_id" not in df:
        return df
    clash = _trials_per_cell_seed(df) > 1
    if not clash.any():
        return df
    recipes = df.loc[clash].groupby(CELL_SEED, dropna=False)["recipe"].nunique()
    methods = set(recipes[recipes > 1].index.get_level_values("method"))
    if methods:
        df = df.copy()
        mine = df["method"].isin(methods)
        df.loc[mine, "method"] = df.loc[mine, "method"] + " (" + df.loc[mine, "recipe"].fillna("no recipe") + ")"
    return df


def configuration_clashes(ok: pd.DataFrame) -> pd.DataFrame:
    """One row per cell and seed whose ok rows come from more than one trial (configurations
    differing in something other than the recipe: a ``--set`` override, a changed method
    config): method, backbone, dataset, shots, seed and the number of trials."""
    if ok.empty or "trial_id" not in ok:
        return pd.DataFrame(columns=[*CELL_SEED, "trials"])
    n = _trials_per_cell_seed(ok)
    return ok.loc[n > 1, CELL_SEED].assign(trials=n[n > 1]).drop_duplicates(CELL_SEED).reset_index(drop=True)


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that count for accuracy: ok, with a top-1, on the test split when
    several eval splits were stored (a validation split must not leak in)."""
    ok = df[(df["status"] == STATUS_OK) & df["top1"].notna()]
    if (ok["eval_split"] == "test").any():
        ok = ok[ok["eval_split"] == "test"]
    return ok


def problem_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Failed and diverged rows, one per trial and stage."""
    bad = df[df["status"] != STATUS_OK]
    cols = ["method", "dataset", "backbone", "protocol", "stage", "shots", "seed", "status", "error", "trial_id"]
    return bad.drop_duplicates(["trial_id", "stage"])[cols].reset_index(drop=True)


def trial_status_counts(df: pd.DataFrame) -> dict[str, int]:
    """Trials per status; a trial with several rows (easy and hard stage) takes
    its worst status, so a trial is "ok" only when every row of it is."""
    rank = {"ok": 0, "diverged": 1, "failed": 2}
    worst = df.assign(_r=df["status"].map(rank).fillna(3)).groupby("trial_id")["_r"].max()
    names = {v: k for k, v in rank.items()}
    counts = worst.map(names).fillna("other").value_counts()
    return {s: int(counts[s]) for s in ["ok", "failed", "diverged", "other"] if s in counts}


def ordered(values, paper_order: list[str]) -> list[str]:
    if isinstance(values, pd.Series):  # a column: its few distinct values, not every row
        values = values.unique()
    values = {v for v in values if isinstance(v, str)}
    known = [v for v in paper_order if v in values]
    return known + sorted(values - set(known))


def seed_stats(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean, sample std (ddof=1) and count of top-1 over seeds, per ``by`` group."""
    g = rows.groupby(by, dropna=False)["top1"]
    out = g.agg(mean="mean", std="std", n_seeds="count").reset_index()
    return out


def dataset_average(rows: pd.DataFrame, by: list[str], datasets: list[str]) -> pd.DataFrame:
    """The paper's Average column, per ``by`` group.

    mean: the average over ``datasets`` of the per-dataset seed means — only
    when every dataset has a result (an average over a different subset would
    not be comparable, so it is missing instead).
    std: over seeds of the per-seed average, using the seeds that have every
    dataset; with fewer than two such seeds there is no std.
    Vectorised: a few groupbys over all groups at once, not a pivot per group.
    """
    columns = [*by, "mean", "std", "n_seeds"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    groups = rows.groupby(by, dropna=False, sort=False).size().index  # every group, in order of appearance
    sub = rows[rows["dataset"].isin(datasets)]
    present = sub.groupby([*by, "dataset"], dropna=False).size().unstack("dataset").reindex(columns=datasets)
    complete = (present.notna().all(axis=1) & bool(datasets)).reindex(groups, fill_value=False)
    per_ds = sub.groupby([*by, "dataset"], dropna=False)["top1"].mean().unstack("dataset").reindex(columns=datasets)
    mean = per_ds.mean(axis=1).reindex(groups).where(complete)
    by_seed = sub.groupby([*by, "seed", "dataset"], dropna=False)["top1"].mean().unstack("dataset") \
        .reindex(columns=datasets).dropna()  # the seeds with every dataset
    seed_avg = by_seed.mean(axis=1).groupby(level=list(range(len(by))), dropna=False)
    n = seed_avg.count().reindex(groups).where(complete).fillna(0).astype(int)
    std = seed_avg.std().reindex(groups).where(complete & (n >= 2))
    out = pd.DataFrame({"mean": mean.to_numpy(dtype=float), "std": std.to_numpy(dtype=float),
                        "n_seeds": n.to_numpy()}, index=groups)
    out.index.names = by
    return out.reset_index()[columns]


def overall_average(rows: pd.DataFrame, datasets: list[str]) -> pd.Series:
    """:func:`dataset_average` of all ``rows`` as one group: mean, std, n_seeds
    (NaN, NaN, 0 when there are no rows)."""
    avg = dataset_average(rows.assign(_g=0), ["_g"], datasets)
    if avg.empty:
        return pd.Series({"mean": np.nan, "std": np.nan, "n_seeds": 0})
    return avg.iloc[0][["mean", "std", "n_seeds"]]


def fmt_mean_std(mean, std, digits: int = 2) -> str:
    if mean is None or pd.isna(mean):
        return MISSING
    if std is None or pd.isna(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def fmt_count(n) -> str:
    """Parameter counts the way papers write them (0.20M, 12.3K)."""
    if n is None or pd.isna(n):
        return MISSING
    n = float(n)
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def fmt_num(x, digits: int = 1) -> str:
    return MISSING if x is None or pd.isna(x) else f"{x:,.{digits}f}"


def gflops(df: pd.DataFrame) -> pd.Series:
    """GFLOPs per row where known: a ``gflops`` column if a later schema adds
    one, else a ``gflops`` key in metrics_json; NaN otherwise."""
    if "gflops" in df.columns:
        return pd.to_numeric(df["gflops"], errors="coerce")

    def from_json(text):
        try:
            return float(json.loads(text).get("gflops"))
        except (TypeError, ValueError, AttributeError):
            return np.nan

    return df["metrics_json"].map(from_json).astype(float)
