"""The report's plots, PNG and PDF, built on matplotlib's object API.

No pyplot: it keeps global state and may pick a GUI backend; ``Figure`` plus
the Agg/PDF canvases needs neither a display nor a lock, so reports can be
built from worker threads and headless machines.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from .aggregate import AVERAGE, PAPER_DATASETS, PAPER_METHODS, dataset_average, ordered, overall_average, seed_stats
from .figure_files import save_figure as _save

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


def method_colors(methods) -> dict[str, str]:
    """One colour per method, the same in every plot of the report."""
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(ordered(methods, PAPER_METHODS))}


def _few_shot(ok: pd.DataFrame, backbone: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    b = ok[(ok["backbone"] == backbone) & ok["protocol"].isin(["few_shot", "zero_shot"])]
    return b[~b["zero_shot"]], b[b["zero_shot"]]


def _headline(fs: pd.DataFrame) -> tuple[int, pd.DataFrame, list[str]]:
    """The largest shot count, its rows, and the datasets every method there ran
    (so points in one scatter average over the same datasets)."""
    k = int(fs["shots"].max())
    at_k = fs[fs["shots"] == k]
    common = set.intersection(*(set(g["dataset"]) for _, g in at_k.groupby("method")))
    return k, at_k, ordered(common, PAPER_DATASETS)


def few_shot_curves(ok: pd.DataFrame, backbone: str, colors: dict, stem: Path) -> list[Path]:
    """Accuracy vs shots, a panel per dataset plus the average; band = ± std over seeds."""
    fs, zs = _few_shot(ok, backbone)
    if fs.empty:
        return []
    datasets = ordered(set(fs["dataset"]) | set(zs["dataset"]), PAPER_DATASETS)
    panels = datasets + [AVERAGE]
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(3.6 * ncols, 2.9 * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    shots = sorted(fs["shots"].unique())
    # Split once: the panels x methods loop below would otherwise filter every row ~130 times.
    cols = ["method", "dataset", "shots", "seed", "top1"]
    by_method = dict(tuple(fs[cols].groupby("method", sort=False)))
    by_cell = dict(tuple(fs[cols].groupby(["method", "dataset"], sort=False)))
    for ax, panel in zip(axes, panels):
        for method in ordered(fs["method"], PAPER_METHODS):
            if panel == AVERAGE:
                s = dataset_average(by_method[method], ["shots"], datasets).dropna(subset=["mean"]).sort_values("shots")
            else:
                s = seed_stats(by_cell.get((method, panel), fs[cols].iloc[0:0]), ["shots"]).sort_values("shots")
            if s.empty:
                continue
            ax.plot(s["shots"], s["mean"], marker="o", ms=3.5, color=colors[method], label=method)
            std = s["std"].fillna(0.0)
            ax.fill_between(s["shots"], s["mean"] - std, s["mean"] + std, color=colors[method], alpha=0.18, lw=0)
        for method in ordered(zs["method"], PAPER_METHODS):
            rows = zs[zs["method"] == method]
            if panel == AVERAGE:
                val = overall_average(rows, datasets)["mean"]
            else:
                val = rows.loc[rows["dataset"] == panel, "top1"].mean()
            if pd.notna(val):
                ax.axhline(val, ls="--", lw=1.2, color=colors[method], label=f"{method} (0-shot)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(shots, [str(k) for k in shots])
        ax.set_title(panel, fontsize=10, fontweight="bold" if panel == AVERAGE else "normal")
        ax.set_xlabel("shots per class", fontsize=8)
        ax.set_ylabel("top-1 (%)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    labels = list(handles)
    fig.legend([handles[lab] for lab in labels], labels, loc="outside lower center", ncols=min(6, len(labels)), fontsize=8)
    fig.suptitle(f"Few-shot top-1 · {backbone} · band: ± std over seeds", fontsize=11)
    return _save(fig, stem)


def easy_to_hard_slopes(ok: pd.DataFrame, backbone: str, colors: dict, stem: Path) -> list[Path]:
    """Average accuracy after the easy stage and after the hard stage, per method."""
    e2h = ok[(ok["backbone"] == backbone) & (ok["protocol"] == "easy_to_hard")]
    if e2h.empty:
        return []
    shot_counts = sorted(e2h["shots"].unique())
    fig = Figure(figsize=(4.2 * len(shot_counts), 4.2), layout="constrained")
    axes = fig.subplots(1, len(shot_counts), squeeze=False).ravel()
    for ax, k in zip(axes, shot_counts):
        rows = e2h[e2h["shots"] == k]
        datasets = ordered(rows["dataset"], PAPER_DATASETS)
        for method in ordered(rows["method"], PAPER_METHODS):
            avg = dataset_average(rows[rows["method"] == method], ["stage"], datasets).set_index("stage")
            if not {"easy", "hard"} <= set(avg.index) or avg.loc[["easy", "hard"], "mean"].isna().any():
                continue
            y = avg.loc[["easy", "hard"], "mean"].to_numpy()
            ax.plot([0, 1], y, marker="o", color=colors[method], lw=2)
            ax.annotate(f"{method} {y[1]:.1f} ({y[1] - y[0]:+.1f})", (1, y[1]), xytext=(6, 0),
                        textcoords="offset points", va="center", fontsize=8, color=colors[method])
        ax.set_xticks([0, 1], ["easy (e)", "hard (h)"])
        ax.set_xlim(-0.25, 1.9)
        ax.set_title(f"{k} samples / class / stage · average of {len(datasets)} datasets", fontsize=9)
        ax.set_ylabel("top-1 (%)")
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"Easy → hard · {backbone}", fontsize=11)
    return _save(fig, stem)


class _PlainLog(LogFormatter):
    """Log-axis labels as 700, 1K, 10K, 1M rather than 7x10^2 or 1e+05; which
    ticks get a label is still LogFormatter's choice."""

    def __call__(self, x, pos=None):
        if not super().__call__(x, pos):
            return ""
        for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
            if x >= div:
                return f"{x / div:g}{unit}"
        return f"{x:g}"


def _cost_scatter(ok, backbone, colors, stem, column, agg, xlabel, title) -> list[Path]:
    fs, zs = _few_shot(ok, backbone)
    if fs.empty:
        return []
    k, at_k, datasets = _headline(fs)
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    unplotted = []
    for method in ordered(at_k["method"], PAPER_METHODS):
        rows = at_k[at_k["method"] == method]
        avg = overall_average(rows, datasets)
        x = getattr(rows[column], agg)()
        if pd.isna(avg["mean"]) or pd.isna(x) or x <= 0:
            unplotted.append(method)
            continue
        ax.errorbar([x], [avg["mean"]], yerr=[0 if pd.isna(avg["std"]) else avg["std"]], fmt="o", ms=7,
                    color=colors[method], capsize=3, label=method)
        ax.annotate(method, (x, avg["mean"]), xytext=(5, 4), textcoords="offset points", fontsize=8)
    for method, rows in zs.groupby("method"):  # nothing trained: a reference line, not a point
        val = overall_average(rows, datasets)["mean"]
        if pd.notna(val):
            ax.axhline(val, ls="--", lw=1.2, color=colors[method], label=f"{method} (0-shot)")
    if unplotted:  # a 0 has no place on a log axis; say so rather than drop it silently
        ax.text(0.01, 0.01, "not shown (no value > 0 or no average): " + ", ".join(unplotted),
                transform=ax.transAxes, fontsize=7, color="#555")
    ax.set_xscale("log")
    ax.margins(x=0.12)  # room for the labels of the outermost points
    # Plain numbers; minor ticks labelled only when the axis spans less than a decade or two.
    ax.xaxis.set_major_formatter(_PlainLog())
    ax.xaxis.set_minor_formatter(_PlainLog(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"top-1 (%), average of {len(datasets)} datasets")
    ax.set_title(f"{title} · {k} shots · {backbone}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, stem)


def accuracy_vs_params(ok, backbone, colors, stem) -> list[Path]:
    return _cost_scatter(ok, backbone, colors, stem, "trainable_params", "median",
                         "trainable parameters (log)", "Accuracy vs trainable parameters")


def accuracy_vs_time(ok, backbone, colors, stem) -> list[Path]:
    return _cost_scatter(ok, backbone, colors, stem, "train_seconds", "mean",
                         "training seconds per trial (log)", "Accuracy vs training time")


def gain_over_zero_shot(ok: pd.DataFrame, backbone: str, colors: dict, stem: Path) -> list[Path]:
    """Per dataset, each method's top-1 minus zero-shot's, at the largest shot count."""
    fs, zs = _few_shot(ok, backbone)
    if fs.empty or zs.empty:
        return []
    zs_method = "zeroshot_clip" if "zeroshot_clip" in set(zs["method"]) else ordered(zs["method"], PAPER_METHODS)[0]
    base = zs[zs["method"] == zs_method].groupby("dataset")["top1"].mean()
    k = int(fs["shots"].max())
    at_k = fs[fs["shots"] == k]
    datasets = [d for d in ordered(at_k["dataset"], PAPER_DATASETS) if d in base.index]
    if not datasets:
        return []
    methods = ordered(at_k["method"], PAPER_METHODS)
    width = 0.8 / len(methods)
    fig = Figure(figsize=(max(6.0, 0.9 * len(datasets) * max(1, len(methods) / 3) + 2), 4.4), layout="constrained")
    ax = fig.subplots()
    for i, method in enumerate(methods):
        means = at_k[at_k["method"] == method].groupby("dataset")["top1"].mean()
        gains = [means.get(d, float("nan")) - base[d] for d in datasets]
        xs = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(datasets))]
        ax.bar(xs, gains, width=width, color=colors[method], label=method)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(datasets)), datasets, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"top-1 gain over {zs_method} (points)")
    ax.set_title(f"Gain over zero-shot · {k} shots · {backbone}", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    fig.legend(loc="outside right upper", fontsize=8)  # outside: bars reach the top
    return _save(fig, stem)


PLOTS = {
    "fewshot-curves": few_shot_curves,
    "easy-to-hard": easy_to_hard_slopes,
    "accuracy-vs-params": accuracy_vs_params,
    "accuracy-vs-time": accuracy_vs_time,
    "gain-over-zeroshot": gain_over_zero_shot,
}


def _statistics_plots() -> dict:
    # The critical-difference diagram and the Pareto plot live with the statistics (stat_figures.py).
    from .stat_figures import STAT_PLOTS

    return STAT_PLOTS


PLOTS.update(_statistics_plots())
