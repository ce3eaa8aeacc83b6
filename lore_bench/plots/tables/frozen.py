"""LORE Table 4: frozen-feature tasks (retrieval, correspondence, video segmentation), measured next to the paper's.

These rows carry no top-1; their numbers live in metrics_json, under "table4"
the metrics the paper reports."""
from __future__ import annotations

import json

import pandas as pd

from lore_bench.results.schema import STATUS_OK

from ..aggregate import MISSING, PAPER_METHODS, fmt_mean_std, ordered
from ..published import published_value
from .builder import REPORT_TABLES, ReportTable
from .cells import Cell, Table, mark_best, slug


def _table4_metrics(text) -> dict:
    try:
        metrics = json.loads(text)
    except (TypeError, ValueError):
        return {}
    chosen = metrics.get("table4") or {}
    return {k: float(v) for k, v in chosen.items() if isinstance(v, (int, float))}


def frozen_long(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (trial, eval split, metric) of the ok frozen-feature rows."""
    frozen = rows[(rows["task"].fillna("classification") != "classification") & (rows["status"] == STATUS_OK)]
    records = [
        {"backbone": r.backbone, "method": r.method, "task": r.task, "column": f"{r.eval_split} {name}",
         "seed": r.seed, "value": value}
        for r in frozen.itertuples() for name, value in _table4_metrics(r.metrics_json).items()
    ]
    return pd.DataFrame(records, columns=["backbone", "method", "task", "column", "seed", "value"])


def frozen_tables(rows: pd.DataFrame) -> list[Table]:
    long = frozen_long(rows)
    tables = []
    for backbone, b in long.groupby("backbone"):
        stats = b.groupby(["method", "column"])["value"].agg(mean="mean", std="std", n_seeds="count").reset_index()
        columns = sorted(stats["column"].unique())
        cells = []
        # mAP lives in [0, 1]: two decimals would hide the differences that matter.
        digits = {c: 3 if "mAP" in c else 2 for c in columns}
        for method in ordered(stats["method"], PAPER_METHODS):
            row = [Cell(method)]
            for col in columns:
                s = stats[(stats["method"] == method) & (stats["column"] == col)]
                row.append(Cell(fmt_mean_std(s["mean"].iloc[0], s["std"].iloc[0], digits[col]), float(s["mean"].iloc[0]))
                           if len(s) else Cell(MISSING))
            cells.append(row)
        # Higher is better for mAP, PCK and J&F; 3 decimals so mAP ties are real ties.
        mark_best(cells, list(range(1, len(columns) + 1)), digits=3)
        # The paper's figures for the same backbone, unmarked, below the measured rows.
        for variant, label in (("baseline", "paper: baseline"), ("white box", "paper: + LORE White Box")):
            values = [published_value(backbone, variant, col) for col in columns]
            if any(v is not None for v in values):
                cells.append([Cell(label), *(Cell(f"{v:.{digits[c]}f}", v) if v is not None else Cell(MISSING)
                                             for v, c in zip(values, columns))])
        tables.append(Table(
            name=f"table4_{slug(backbone)}", title=f"Table 4 · frozen features · backbone {backbone}",
            header=["Method", *columns], rows=cells, data=stats.assign(backbone=backbone), short="Table 4",
            notes=["Columns: evaluation (dataset/preset) and metric, as the frozen-feature tasks record them: "
                   "mAP in [0, 1]; PCK and J&F in %. Mean ± std over seeds. 'paper:' rows are the LORE paper's "
                   "Table 4 for this backbone (baseline -> with White Box), where it reports one."],
        ))
    return tables


@REPORT_TABLES.register()
class FrozenFeatureTables(ReportTable):
    columns = ("metrics_json",)
    name = "frozen_features"
    title = "Table 4: frozen-feature metrics (mAP, PCK, J&F) per method, the paper's figures below"
    order, kind = 40, "paper"

    def build(self, rows: pd.DataFrame, ok: pd.DataFrame) -> list[Table]:
        return frozen_tables(rows)
