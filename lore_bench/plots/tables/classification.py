"""LORE Table 1 (few-shot) and Table 3 (easy -> hard): methods x datasets top-1 grids with the Average column."""
from __future__ import annotations

import pandas as pd

from ..aggregate import (
    AVERAGE, MISSING, PAPER_DATASETS, PAPER_METHODS, dataset_average, fmt_mean_std, ordered, seed_stats,
)
from .builder import REPORT_TABLES, ReportTable
from .cells import Cell, Table, mark_best, slug


STAT_KEYS = ("mean", "std", "n_seeds")
NO_STATS = {"mean": float("nan"), "std": float("nan"), "n_seeds": 0.0}


def _acc_cell(stats: dict | None, max_seeds: int) -> Cell:
    if stats is None or pd.isna(stats["mean"]):
        return Cell(MISSING)
    mean, std, n = stats["mean"], stats["std"], int(stats["n_seeds"])
    text = fmt_mean_std(mean, std)
    if n < max_seeds:  # never let a cell with fewer seeds pass for a full one
        text += f" (n={n})"
    return Cell(text, float(mean))


def _records(frame: pd.DataFrame, keys: list[str]) -> dict[tuple, dict]:
    """key columns' values -> {"mean", "std", "n_seeds"} of each row, as plain floats."""
    columns = [frame[c].tolist() for c in (*keys, *STAT_KEYS)]
    return {tuple(v[:len(keys)]): dict(zip(STAT_KEYS, map(float, v[len(keys):]))) for v in zip(*columns)}


def _grid(ok: pd.DataFrame, row_keys: list[tuple[str, dict]], datasets: list[str]) -> tuple[list[list[Cell]], pd.DataFrame]:
    """Rows of (label, filter) x dataset columns + Average, and the tidy data.
    A cell is flagged (n=…) when it has fewer seeds than the most in its row
    (zero-shot runs one seed by design, so rows are not compared with each other)."""
    rows, tidy = [], []
    # Per set of filter columns, the statistics of every row key at once (a few groupbys), read back as
    # plain dicts, not a filter and an aggregation per row key: at 100,000 stored trials that was most of
    # the report's time, and per-cell pandas indexing the rest of it.
    stats: dict[tuple, tuple[dict, dict]] = {}
    for label, where in row_keys:
        cols = tuple(where)
        if cols not in stats:
            small = ok[[*cols, "dataset", "seed", "top1"]]
            per_ds = _records(seed_stats(small, [*cols, "dataset"]), [*cols, "dataset"])
            avg = _records(dataset_average(small, list(cols), datasets), list(cols)) if len(small) else {}
            stats[cols] = (per_ds, avg)
        key = tuple(where.values())
        per_ds = {ds: stats[cols][0].get((*key, ds)) for ds in datasets}
        avg = stats[cols][1].get(key, NO_STATS)
        max_seeds = int(max((r["n_seeds"] for r in per_ds.values() if r is not None), default=0))
        row = [Cell(label)]
        for ds in datasets:
            row.append(_acc_cell(per_ds[ds], max_seeds))
            if per_ds[ds] is not None:
                tidy.append({"row": label, **where, "dataset": ds, **per_ds[ds]})
        row.append(_acc_cell(avg, max_seeds))
        tidy.append({"row": label, **where, "dataset": AVERAGE, **avg})
        rows.append(row)
    return rows, pd.DataFrame(tidy)


def few_shot_table(ok: pd.DataFrame, rows: pd.DataFrame, backbone: str, shots: int) -> Table:
    """LORE Table 1: methods x datasets at one shot count, zero-shot on top."""
    allb = rows[(rows["backbone"] == backbone) & (rows["protocol"].isin(["few_shot", "zero_shot"]))]
    okb = ok[(ok["backbone"] == backbone) & (ok["protocol"].isin(["few_shot", "zero_shot"]))]
    datasets = ordered(allb["dataset"], PAPER_DATASETS)
    zs = ordered(allb.loc[allb["zero_shot"], "method"], PAPER_METHODS)
    fs = ordered(allb.loc[~allb["zero_shot"] & (allb["shots"] == shots), "method"], PAPER_METHODS)
    keys = [(f"{m} (0-shot)", {"method": m, "zero_shot": True}) for m in zs]
    keys += [(m, {"method": m, "zero_shot": False, "shots": shots}) for m in fs]
    cells, tidy = _grid(okb, keys, datasets)
    mark_best(cells, list(range(1, len(datasets) + 2)))
    return Table(
        name=f"table1_{slug(backbone)}_{shots}shot",
        title=f"Table 1 · top-1 (%), {shots}-shot · backbone {backbone}",
        header=["Method", *datasets, AVERAGE], rows=cells,
        data=tidy.assign(backbone=backbone, table_shots=shots) if len(tidy) else tidy,
        short=f"Table 1 · {shots}-shot",
    )


def easy_to_hard_table(ok: pd.DataFrame, rows: pd.DataFrame, backbone: str, shots: int) -> Table:
    """LORE Table 3: per method, accuracy after the easy stage (e) and after
    continuing on hard samples (h); Δ = h − e on the average."""
    sel = rows[(rows["backbone"] == backbone) & (rows["protocol"] == "easy_to_hard") & (rows["shots"] == shots)]
    okb = ok[(ok["backbone"] == backbone) & (ok["protocol"] == "easy_to_hard") & (ok["shots"] == shots)]
    datasets = ordered(sel["dataset"], PAPER_DATASETS)
    methods = ordered(sel["method"], PAPER_METHODS)
    keys = [(f"{m} ({stage[0]})", {"method": m, "stage": stage}) for m in methods for stage in ("easy", "hard")]
    cells, tidy = _grid(okb, keys, datasets)
    avg_col = len(datasets) + 1
    for i in range(0, len(cells), 2):  # Δ on the hard row, blank on the easy row
        e, h = cells[i][avg_col].value, cells[i + 1][avg_col].value
        cells[i].append(Cell(""))
        cells[i + 1].append(Cell(MISSING if e is None or h is None else f"{h - e:+.2f}",
                                 None if e is None or h is None else h - e))
    groups = [list(range(0, len(cells), 2)), list(range(1, len(cells), 2))]  # best easy, best hard
    mark_best(cells, list(range(1, avg_col + 1)), groups)
    return Table(
        name=f"table3_{slug(backbone)}_{shots}shot",
        title=f"Table 3 · easy → hard, {shots} samples per class per stage · backbone {backbone}",
        header=["Method (stage)", *datasets, AVERAGE, "Δ h−e"], rows=cells, short=f"Table 3 · {shots}/stage",
        data=tidy.assign(backbone=backbone, table_shots=shots) if len(tidy) else tidy,
        notes=["e: after the easy stage; h: after continuing on the hard samples. "
               "Best per column marked among easy rows and among hard rows separately."],
    )


@REPORT_TABLES.register()
class FewShotTables(ReportTable):
    name = "few_shot"
    columns = ()
    title = "Table 1: top-1 per method and dataset at one shot count, zero-shot on top"
    order, kind, headline = 10, "paper", True

    def build(self, rows: pd.DataFrame, ok: pd.DataFrame) -> list[Table]:
        tables = []
        ok_of = dict(tuple(ok.groupby("backbone", sort=False)))  # split once: a store of many backbones
        for backbone, b in sorted(rows.groupby("backbone", sort=False), key=lambda kv: kv[0]):
            shots = sorted(b.loc[(b["protocol"] == "few_shot") & ~b["zero_shot"], "shots"].unique())
            shots = shots or ([0] if b["zero_shot"].any() else [])  # a zero-shot-only store still gets a table
            okb = ok_of.get(backbone, ok.iloc[:0])
            tables += [few_shot_table(okb, b, backbone, int(k)) for k in shots]
        return tables


@REPORT_TABLES.register()
class EasyToHardTables(ReportTable):
    name = "easy_to_hard"
    columns = ()
    title = "Table 3: top-1 after the easy stage and after continuing on hard samples"
    order, kind = 20, "paper"

    def build(self, rows: pd.DataFrame, ok: pd.DataFrame) -> list[Table]:
        tables = []
        for backbone in sorted(rows["backbone"].unique()):
            b = rows[rows["backbone"] == backbone]
            shots = sorted(b.loc[b["protocol"] == "easy_to_hard", "shots"].unique())
            tables += [easy_to_hard_table(ok, rows, backbone, int(k)) for k in shots]
        return tables
