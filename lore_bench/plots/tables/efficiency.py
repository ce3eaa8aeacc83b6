"""The efficiency table: what each method pays for its accuracy (parameters, time, throughput, memory, GFLOPs)."""
from __future__ import annotations

import pandas as pd

from ..aggregate import MISSING, PAPER_METHODS, fmt_count, fmt_num, gflops, ordered
from .builder import REPORT_TABLES, ReportTable
from .cells import Cell, Table, slug


def efficiency_table(ok: pd.DataFrame, backbone: str) -> Table:
    """Cost per method and shot count: what you pay for the accuracy."""
    okb = ok[(ok["backbone"] == backbone) & ok["protocol"].isin(["few_shot", "zero_shot"])].copy()
    okb["gflops"] = gflops(okb)
    # The engine records total = backbone + trainable; the paper quotes the share of the backbone.
    backbone_params = (okb["total_params"] - okb["trainable_params"]).where(lambda n: n > 0)
    okb["pct"] = 100.0 * okb["trainable_params"] / backbone_params
    g = okb.groupby(["method", "shots"])
    data = pd.DataFrame({
        "trainable_params": g["trainable_params"].median(),
        "pct_of_backbone": g["pct"].median(),
        "train_seconds": g["train_seconds"].mean(),
        "train_images_per_s": g["train_images_per_s"].mean(),
        "eval_images_per_s": g["eval_images_per_s"].mean(),
        "peak_memory_mb": g["peak_memory_mb"].max(),
        "gflops": g["gflops"].median(),
        "mean_top1": okb.groupby(["method", "shots", "dataset"])["top1"].mean().groupby(["method", "shots"]).mean(),
        "trials": g["trial_id"].nunique(),
    }).reset_index()
    has_gflops = data["gflops"].notna().any()
    order = {m: i for i, m in enumerate(ordered(data["method"], PAPER_METHODS))}
    data = data.sort_values(["method", "shots"], key=lambda s: s.map(order) if s.name == "method" else s)
    header = ["Method", "Shots", "Trainable params", "% of backbone", "Train s / trial", "Train img/s",
              "Eval img/s", "Peak mem (MB)", *(["GFLOPs"] if has_gflops else []), "Mean top-1", "Trials"]
    cells = []
    for r in data.itertuples():
        row = [Cell(r.method), Cell(str(r.shots)), Cell(fmt_count(r.trainable_params)),
               Cell(MISSING if pd.isna(r.pct_of_backbone) else f"{r.pct_of_backbone:.3g}%"),
               Cell(fmt_num(r.train_seconds)), Cell(fmt_num(r.train_images_per_s)),
               Cell(fmt_num(r.eval_images_per_s)), Cell(fmt_num(r.peak_memory_mb, 0))]
        if has_gflops:
            row.append(Cell(fmt_num(r.gflops, 1)))
        row += [Cell(fmt_num(r.mean_top1, 2), r.mean_top1), Cell(str(r.trials))]
        cells.append(row)
    if not has_gflops:
        data = data.drop(columns="gflops")
    return Table(
        name=f"efficiency_{slug(backbone)}", title=f"Efficiency · backbone {backbone}",
        header=header, rows=cells, data=data.assign(backbone=backbone),
        notes=["Trainable params: median over trials; % of backbone: trainable / (total − trainable) "
               "parameters as the engine records them; train s and images/s: mean per trial; peak memory: max. "
               "Mean top-1: mean over the datasets this method ran (not the Table 1 average)."
               + ("" if has_gflops else " GFLOPs: not recorded in this store.")],
    )


@REPORT_TABLES.register()
class EfficiencyTables(ReportTable):
    name = "efficiency"
    columns = ("total_params", "trainable_params", "train_seconds", "train_images_per_s", "eval_images_per_s",
               "peak_memory_mb", "gflops", "metrics_json")
    title = "Cost per method and shot count: trainable parameters, training time, throughput, memory"
    order = 30

    def build(self, rows: pd.DataFrame, ok: pd.DataFrame) -> list[Table]:
        return [efficiency_table(ok, backbone) for backbone in sorted(rows["backbone"].unique())
                if (ok["backbone"] == backbone).any()]
