"""Measured vs published: every measured top-1 next to the LORE paper's figure for it.

The reference figures ship with the package (``plots/published/top1.csv``, from
the LORE paper, ACM MM 2024); a row matches on backbone name, method, dataset,
shots and protocol/stage. The paper's "average_N" columns are matched by the
measured average over the same N datasets, and only when all N were measured.
"""
from __future__ import annotations

import re

import pandas as pd

from ..aggregate import MISSING, PAPER_DATASETS, PAPER_METHODS, fmt_mean_std, ordered, overall_average, seed_stats
from ..published import SOURCE, load_published
from .builder import REPORT_TABLES, ReportTable
from .cells import Cell, Table


def _protocol_key(rows: pd.DataFrame) -> pd.Series:
    # The paper files zero-shot CLIP under the few-shot table as its 0-shot point.
    return rows["protocol"].where(~rows["protocol"].isin(["zero_shot"]), "few_shot")


def _average_datasets(pub: pd.DataFrame, row) -> list[str] | None:
    """Which datasets the paper's ``average_N`` averages: the N datasets it
    lists for the same table and setting, or its 12 when N is 12; else unknown."""
    m = re.fullmatch(r"average_(\d+)", row.dataset)
    if not m:
        return None  # e.g. average_natural_4: the paper does not say which four
    n = int(m.group(1))
    same = pub[(pub["table"] == row.table) & (pub["backbone"] == row.backbone) & (pub["protocol"] == row.protocol)
               & (pub["stage"] == row.stage) & (pub["shots"] == row.shots) & ~pub["dataset"].str.startswith("average")]
    listed = ordered(same["dataset"], PAPER_DATASETS)
    if len(listed) == n:
        return listed
    return PAPER_DATASETS if n == len(PAPER_DATASETS) else None


def comparison_table(ok: pd.DataFrame, rows: pd.DataFrame) -> Table:
    pub = load_published()
    measured_pairs = set(zip(rows["backbone"], rows["method"]))
    # Figures for methods or datasets the store never ran would only be rows of
    # dashes; they are counted in a note instead. Failed runs still count as run.
    ran = set(zip(rows["backbone"], rows["dataset"]))
    relevant = pub[pd.MultiIndex.from_frame(pub[["backbone", "method"]]).isin(list(measured_pairs))]
    sel_pub = relevant[relevant["dataset"].str.startswith("average")
                       | pd.MultiIndex.from_frame(relevant[["backbone", "dataset"]]).isin(list(ran))]
    ok = ok.assign(protocol=_protocol_key(ok))
    ok.loc[ok["zero_shot"], "shots"] = 0
    records, cells = [], []
    method_rank = {m: i for i, m in enumerate(PAPER_METHODS)}
    ds_rank = {d: i for i, d in enumerate(PAPER_DATASETS)}
    sel_pub = sel_pub.assign(
        _m=sel_pub["method"].map(lambda m: method_rank.get(m, 99)),
        _d=sel_pub["dataset"].map(lambda d: ds_rank.get(d, 99)),
    ).sort_values(["backbone", "table", "protocol", "shots", "_m", "stage", "_d"], kind="stable")
    for r in sel_pub.itertuples():
        match = ok[(ok["backbone"] == r.backbone) & (ok["method"] == r.method) & (ok["protocol"] == r.protocol)
                   & (ok["stage"] == r.stage) & (ok["shots"] == r.shots)]
        if r.dataset.startswith("average"):
            datasets = _average_datasets(pub, r)
            stats = overall_average(match, datasets) if datasets else overall_average(match.iloc[0:0], [])
        else:
            per_ds = seed_stats(match[match["dataset"] == r.dataset], ["dataset"])
            stats = per_ds.iloc[0] if len(per_ds) else overall_average(match.iloc[0:0], [])
        mean, std = stats["mean"], stats["std"]
        delta = mean - r.value
        records.append({"table": r.table, "backbone": r.backbone, "protocol": r.protocol, "stage": r.stage,
                        "shots": r.shots, "method": r.method, "dataset": r.dataset, "published": r.value,
                        "measured_mean": mean, "measured_std": std,
                        "measured_seeds": int(stats["n_seeds"]), "delta": delta})
        setting = r.protocol if r.stage == "main" else f"{r.protocol}/{r.stage}"
        cells.append([Cell(r.table), Cell(r.backbone), Cell(setting), Cell(str(r.shots)), Cell(r.method),
                      Cell(r.dataset), Cell(f"{r.value:.2f}"), Cell(fmt_mean_std(mean, std)),
                      Cell(MISSING if pd.isna(delta) else f"{delta:+.2f}", None if pd.isna(delta) else delta)])
    notes = [f"Published: {SOURCE}. Δ = measured − published (top-1 points). "
             "average_N rows compare with the measured average over the same N datasets when all were measured."]
    skipped = len(pub[pub["backbone"].isin(rows["backbone"])]) - len(sel_pub)
    if skipped:
        notes.append(f"{skipped} published figures for methods or datasets this store never ran are not listed.")
    unpublished = sorted(set(rows["method"].dropna()) - set(pub["method"]))
    if unpublished:  # methods beyond the paper (CLIP-LoRA, BitFit, Tip-Adapter-F, plugins)
        notes.append("The LORE paper publishes no figure for " + ", ".join(unpublished)
                     + ": their rows elsewhere in this report have no published counterpart.")
    if not records:
        notes.append("No published figure matches a measured (backbone, method): the reference covers backbones "
                     + ", ".join(sorted(pub["backbone"].unique())) + "; this store has "
                     + ", ".join(sorted(rows["backbone"].unique())) + ".")
    return Table(
        name="measured_vs_published", title="Measured vs published (LORE paper)",
        header=["Paper", "Backbone", "Protocol", "Shots", "Method", "Dataset", "Published", "Measured", "Δ"],
        rows=cells, data=pd.DataFrame(records), notes=notes,
    )


@REPORT_TABLES.register()
class MeasuredVsPublished(ReportTable):
    columns = ()
    name = "measured_vs_published"
    title = "Every published LORE figure for a backbone and method the store ran, next to the measurement"
    order = 80

    def build(self, rows: pd.DataFrame, ok: pd.DataFrame) -> list[Table]:
        return [comparison_table(ok, rows)]
