"""Paper-style tables as data: what to show, not how (render.py / html.py).

Each builder returns a :class:`Table` holding display cells (with best /
second-best marks) and a tidy numeric frame for the CSV, built from the same
aggregates so the two cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..errors import user_error_line
from .aggregate import (
    AVERAGE, MISSING, PAPER_DATASETS, PAPER_METHODS, fmt_count, fmt_mean_std,
    fmt_num, gflops, ordered, overall_average, seed_stats,
)


@dataclass
class Cell:
    text: str
    value: float | None = None  # what "best" is decided on
    emph: str = ""  # "best" | "second" | ""


@dataclass
class Table:
    name: str  # file stem
    title: str
    header: list[str]
    rows: list[list[Cell]]
    data: pd.DataFrame  # tidy numbers for the CSV
    notes: list[str] = field(default_factory=list)
    short: str = ""  # link text in the HTML navigation

    def __post_init__(self):
        self.short = self.short or self.title.split(" · ")[0]


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()


def mark_best(rows: list[list[Cell]], columns: list[int], row_groups: list[list[int]] | None = None,
              digits: int = 2) -> None:
    """Bold the best and underline the second-best value of each column, among
    the rows of each group; ties (at the displayed ``digits``) share the mark.
    A column with a single value gets no mark: there is nothing to beat; with
    two values only the best is marked."""
    groups = row_groups or [list(range(len(rows)))]
    for col in columns:
        for group in groups:
            vals = {i: round(rows[i][col].value, digits) for i in group
                    if rows[i][col].value is not None and not pd.isna(rows[i][col].value)}
            distinct = sorted(set(vals.values()), reverse=True)
            if len(vals) < 2:
                continue
            for i, v in vals.items():
                if v == distinct[0]:
                    rows[i][col].emph = "best"
                elif len(vals) > 2 and len(distinct) > 1 and v == distinct[1]:
                    rows[i][col].emph = "second"  # with two rows "second" is just "last"


def _acc_cell(stats: pd.DataFrame, max_seeds: int) -> Cell:
    if stats.empty or pd.isna(stats["mean"].iloc[0]):
        return Cell(MISSING)
    mean, std, n = stats["mean"].iloc[0], stats["std"].iloc[0], int(stats["n_seeds"].iloc[0])
    text = fmt_mean_std(mean, std)
    if n < max_seeds:  # never let a cell with fewer seeds pass for a full one
        text += f" (n={n})"
    return Cell(text, float(mean))


def _grid(ok: pd.DataFrame, row_keys: list[tuple[str, dict]], datasets: list[str]) -> tuple[list[list[Cell]], pd.DataFrame]:
    """Rows of (label, filter) x dataset columns + Average, and the tidy data.
    A cell is flagged (n=…) when it has fewer seeds than the most in its row
    (zero-shot runs one seed by design, so rows are not compared with each other)."""
    rows, tidy = [], []
    for label, where in row_keys:
        sel = ok
        for col, val in where.items():
            sel = sel[sel[col] == val]
        per_ds = seed_stats(sel, ["dataset"])
        avg = overall_average(sel, datasets)
        max_seeds = int(per_ds["n_seeds"].max()) if len(per_ds) else 0
        row = [Cell(label)]
        for ds in datasets:
            s = per_ds[per_ds["dataset"] == ds]
            row.append(_acc_cell(s, max_seeds))
            if not s.empty:
                tidy.append({"row": label, **where, "dataset": ds, **s.iloc[0][["mean", "std", "n_seeds"]].to_dict()})
        row.append(_acc_cell(avg.to_frame().T, max_seeds))
        tidy.append({"row": label, **where, "dataset": AVERAGE, **avg.to_dict()})
        rows.append(row)
    return rows, pd.DataFrame(tidy)


def numeric_column(table: "Table", col: int) -> bool:
    """Right-align a column whose cells all read as numbers (or are missing)."""
    texts = [row[col].text for row in table.rows if row[col].text not in ("", MISSING)]
    return col > 0 and all(t[:1].isdigit() or t[:1] in "+-" for t in texts)


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


def problems_table(problems: pd.DataFrame) -> Table:
    """Failed and diverged trials with their error, so nothing is hidden."""
    cells = []
    for r in problems.itertuples():
        err = r.error.strip().splitlines() if isinstance(r.error, str) else []
        # a data error's marked line names the file; otherwise a traceback's last line says what went wrong
        first = (user_error_line(r.error) if err else None) or (err[-1] if err else "")
        cells.append([Cell(r.status), Cell(r.method), Cell(r.dataset), Cell(r.backbone),
                      Cell(r.protocol if r.stage == "main" else f"{r.protocol}/{r.stage}"),
                      Cell(str(r.shots)), Cell(str(r.seed)), Cell(first[:200] or MISSING)])
    counts = problems["status"].value_counts().to_dict() if len(problems) else {}
    return Table(
        name="failed_trials", short="Failed trials",
        title="Failed and diverged trials (" + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none") + ")",
        header=["Status", "Method", "Dataset", "Backbone", "Protocol", "Shots", "Seed", "Error"],
        rows=cells, data=problems,
    )


def all_tables(ok: pd.DataFrame, rows: pd.DataFrame) -> list[Table]:
    tables = []
    for backbone in sorted(rows["backbone"].unique()):
        b = rows[rows["backbone"] == backbone]
        fs_shots = sorted(b.loc[(b["protocol"] == "few_shot") & ~b["zero_shot"], "shots"].unique())
        fs_shots = fs_shots or ([0] if b["zero_shot"].any() else [])  # a zero-shot-only store still gets a table
        tables += [few_shot_table(ok, rows, backbone, int(k)) for k in fs_shots]
        e2h = sorted(b.loc[b["protocol"] == "easy_to_hard", "shots"].unique())
        tables += [easy_to_hard_table(ok, rows, backbone, int(k)) for k in e2h]
        if (ok["backbone"] == backbone).any():
            tables.append(efficiency_table(ok, backbone))
    return tables


__all__ = ["Cell", "Table", "all_tables", "numeric_column", "few_shot_table", "easy_to_hard_table", "efficiency_table",
           "problems_table", "mark_best"]
