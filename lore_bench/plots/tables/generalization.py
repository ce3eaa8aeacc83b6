"""Generalization tables: base-to-novel (base, novel, HM), cross-dataset transfer
and domain generalization, with the published figures where they exist.

Rows come from the protocols of the same names (suite/protocols/): a
base-to-novel trial stores ``eval_split`` ``base`` and ``novel``; a transfer trial
``test`` (its source) and ``<target>/test`` per target. Each figure is the mean
over seeds; HM = 2 B N / (B + N) of the seed means, and the Average row is the
HM of the averages over datasets, as the MaPLe paper's Table 1 computes it
(82.28, 75.14 -> 78.55). A method the store ran under another protocol but
whose classifier cannot score unseen classes is listed as not applicable.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..aggregate import AVERAGE, MISSING, PAPER_METHODS, fmt_num, ordered
from ..published import GENERALIZATION_SOURCE, load_generalization
from .builder import REPORT_TABLES, ReportTable
from .cells import Cell, Table, mark_best

NOT_APPLICABLE = "not applicable"


def harmonic_mean(base: float, novel: float) -> float:
    if pd.isna(base) or pd.isna(novel) or base + novel <= 0:
        return np.nan
    return 2 * base * novel / (base + novel)


def _ok(rows: pd.DataFrame, protocol: str) -> pd.DataFrame:
    return rows[(rows["protocol"] == protocol) & (rows["status"] == "ok") & rows["top1"].notna()]


def not_applicable(rows: pd.DataFrame, backbone: str, measured: set[str]) -> list[str]:
    """Methods of the store on ``backbone`` that cannot score unseen classes and have no row here."""
    from ...methods.registry import resolve_method

    out = []
    for method, spec_json in rows[rows["backbone"] == backbone].groupby("method")["spec_json"].first().items():
        if method in measured:
            continue
        try:
            spec = json.loads(spec_json) if isinstance(spec_json, str) else {}
            cls = resolve_method(method, spec.get("plugin"))
        except Exception:  # a plugin method this machine cannot import: say nothing about it
            continue
        if not cls.can_score_unseen_classes(spec.get("backbone") or {}):
            out.append(method)
    return ordered(out, PAPER_METHODS)


def base_to_novel_tables(rows: pd.DataFrame) -> list[Table]:
    ok = _ok(rows, "base_to_novel")
    ok = ok[ok["eval_split"].isin(["base", "novel"])]
    pub = load_generalization()
    tables = []
    for backbone in sorted(ok["backbone"].unique()):
        b = ok[ok["backbone"] == backbone]
        means = b.groupby(["method", "dataset", "eval_split"])["top1"].mean().unstack("eval_split")
        seeds = b.groupby(["method", "dataset"])["seed"].nunique()
        datasets = sorted(b["dataset"].unique())
        methods = ordered(b["method"].unique(), PAPER_METHODS)
        cells, records, groups = [], [], []
        for method in methods:
            group = []
            per = means.loc[method] if method in means.index.get_level_values(0) else pd.DataFrame()
            entries = [(d, per.loc[d].get("base", np.nan), per.loc[d].get("novel", np.nan),
                        int(seeds.get((method, d), 0))) for d in datasets if d in per.index]
            if len(entries) == len(datasets) and len(datasets) > 1:
                entries.append((AVERAGE, float(np.mean([e[1] for e in entries])),
                                float(np.mean([e[2] for e in entries])), min(e[3] for e in entries)))
            for dataset, base, novel, n in entries:
                hm = harmonic_mean(base, novel)
                ref = _published(pub, backbone, method, dataset, len(datasets))
                delta = hm - ref["hm"] if ref else np.nan
                records.append({"backbone": backbone, "method": method, "dataset": dataset, "base": base,
                                "novel": novel, "hm": hm, "seeds": n,
                                **{f"published_{k}": v for k, v in (ref or {}).items()}, "delta_hm": delta})
                group.append(len(cells))
                cells.append([Cell(method), Cell(dataset), Cell(fmt_num(base, 2), base), Cell(fmt_num(novel, 2), novel),
                              Cell(fmt_num(hm, 2), hm), Cell(str(n)),
                              Cell(" / ".join(f"{ref[k]:.2f}" for k in ("base", "novel", "hm")) if ref else MISSING),
                              Cell(MISSING if pd.isna(delta) else f"{delta:+.2f}", None if pd.isna(delta) else delta)])
            groups.append(group)
        for method in not_applicable(rows, backbone, set(methods)):
            cells.append([Cell(method), Cell("all"), *[Cell(NOT_APPLICABLE)] * 3, Cell("-"), Cell(MISSING), Cell(MISSING)])
            records.append({"backbone": backbone, "method": method, "dataset": "all", "status": NOT_APPLICABLE})
        by_dataset = [[i for g in groups for i in g if cells[i][1].text == d] for d in [*datasets, AVERAGE]]
        mark_best(cells, [2, 3, 4], [g for g in by_dataset if g])
        notes = [f"HM = 2·B·N / (B + N); Average: the HM of the averages over {len(datasets)} datasets. "
                 "Base: base-class test images, base-class classifier; novel: novel-class test images, "
                 "novel-class classifier (the classes split by CoCoOp's rule).",
                 f"Published (B / N / HM): {GENERALIZATION_SOURCE}, the average of 11 datasets; compared with a "
                 "measured Average only when the store has the same 11 datasets. Δ = measured HM − published HM."]
        if any(r.get("status") == NOT_APPLICABLE for r in records):
            notes.append("Not applicable: a closed set of learned class weights (linear head, Tip-Adapter's cache "
                         "of labelled keys) cannot score classes it never saw; the expansion skips these methods.")
        tables.append(Table(name=f"base_to_novel_{backbone}", title=f"Base-to-novel generalization · {backbone}",
                            header=["Method", "Dataset", "Base", "Novel", "HM", "Seeds", "Published B / N / HM", "Δ HM"],
                            rows=cells, data=pd.DataFrame(records), notes=notes))
    return tables


#: The MaPLe paper's 11 base-to-novel datasets, in lore-bench names where lore-bench has them.
MAPLE_ELEVEN = 11


def _published(pub: pd.DataFrame, backbone: str, method: str, dataset: str, n_datasets: int) -> dict | None:
    if dataset != AVERAGE or n_datasets != MAPLE_ELEVEN:
        return None
    sel = pub[(pub["backbone"] == backbone) & (pub["method"] == method) & (pub["dataset"] == "average_11")]
    values = dict(zip(sel["metric"], sel["value"].astype(float)))
    return values if {"base", "novel", "hm"} <= set(values) else None


def transfer_tables(rows: pd.DataFrame, protocol: str, title: str) -> list[Table]:
    ok = _ok(rows, protocol)
    tables = []
    for backbone in sorted(ok["backbone"].unique()):
        b = ok[ok["backbone"] == backbone].copy()
        b["target"] = np.where(b["eval_split"] == "test", b["dataset"], b["eval_split"].str.removesuffix("/test"))
        for source in sorted(b["dataset"].unique()):
            s = b[b["dataset"] == source]
            targets = [t for t in ordered(s["target"].unique(), []) if t != source]
            means = s.groupby(["method", "target"])["top1"].mean()
            seeds = s.groupby("method")["seed"].nunique()
            methods = ordered(s["method"].unique(), PAPER_METHODS)
            cells, records = [], []
            for method in methods:
                values = [means.get((method, t), np.nan) for t in [source, *targets]]
                avg = float(np.mean(values[1:])) if targets and not any(pd.isna(values[1:])) else np.nan
                cells.append([Cell(method), *[Cell(fmt_num(v, 2), v) for v in [*values, avg]], Cell(str(seeds[method]))])
                records += [{"backbone": backbone, "source": source, "method": method, "target": t, "top1": v,
                             "seeds": int(seeds[method])} for t, v in zip([source, *targets, AVERAGE], [*values, avg])]
            for method in not_applicable(rows, backbone, set(methods)) if protocol == "cross_dataset" else []:
                cells.append([Cell(method), *[Cell(NOT_APPLICABLE)] * (len(targets) + 2), Cell("-")])
                records.append({"backbone": backbone, "source": source, "method": method, "status": NOT_APPLICABLE})
            mark_best(cells, list(range(1, len(targets) + 3)), [list(range(len(methods)))])
            notes = [f"Trained on {source} (column 1, its own test split); the other columns score the same model, "
                     "unchanged, on each target's test split. Average: over the targets (when all were measured).",
                     f"No published figures: {GENERALIZATION_SOURCE} lists none for this protocol, so none are "
                     "shipped (docs/generalization.md)."]
            if protocol == "domain_generalization":
                notes.append("Targets with a subset of the source's classes (ImageNet-A, -R: 200) are scored over "
                             "those classes only; every method applies.")
            tables.append(Table(name=f"{protocol}_{backbone}_{source}", title=f"{title} · {backbone} · from {source}",
                                header=["Method", f"{source} (source)", *targets, AVERAGE, "Seeds"],
                                rows=cells, data=pd.DataFrame(records), notes=notes))
    return tables


@REPORT_TABLES.register()
class BaseToNovelTable(ReportTable):
    name = "base_to_novel"
    title = "Base-to-novel generalization: base, novel and harmonic-mean accuracy, with MaPLe's published averages"
    order = 60
    kind = "paper"

    def build(self, rows: pd.DataFrame, ok: pd.DataFrame) -> list[Table]:
        return base_to_novel_tables(rows)


@REPORT_TABLES.register()
class CrossDatasetTable(ReportTable):
    name = "cross_dataset"
    title = "Cross-dataset transfer: trained on a source dataset, scored unchanged on other datasets"
    order = 61
    kind = "paper"

    def build(self, rows: pd.DataFrame, ok: pd.DataFrame) -> list[Table]:
        return transfer_tables(rows, "cross_dataset", "Cross-dataset transfer")


@REPORT_TABLES.register()
class DomainGeneralizationTable(ReportTable):
    name = "domain_generalization"
    title = "Domain generalization: trained on a source dataset, scored on shifted test sets with its classes"
    order = 62
    kind = "paper"

    def build(self, rows: pd.DataFrame, ok: pd.DataFrame) -> list[Table]:
        return transfer_tables(rows, "domain_generalization", "Domain generalization")
