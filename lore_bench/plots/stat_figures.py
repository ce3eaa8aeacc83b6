"""The statistics figures (plots/stats.py): the critical-difference diagram
(Demšar 2006, Fig. 1 style) and the cost-accuracy Pareto plot, per protocol
(recipe = few_shot, tuned) at the largest shot count of each."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from . import stats
from .figure_files import save_figure as _save
from .aggregate import PAPER_METHODS, ordered
from .tables.significance import PROTOCOLS, Grid

CD_PROTOCOLS = ("tuned", "few_shot")


def _grid(ok: pd.DataFrame, backbone: str, protocol: str) -> Grid | None:
    p = ok[(ok["backbone"] == backbone) & (ok["protocol"] == protocol) & (ok["stage"] == "main")]
    if p.empty:
        return None
    g = Grid(ok, backbone, int(p["shots"].max()), protocol)
    return g if len(g.complete()) >= 2 else None


def critical_difference(ok: pd.DataFrame, backbone: str, colors: dict, stem: Path) -> list[Path]:
    """Average ranks on a line (1 = best, left), a bar of the Nemenyi CD, and
    thick lines joining methods whose ranks differ by less than the CD."""
    panels = [(p, g) for p in CD_PROTOCOLS if (g := _grid(ok, backbone, p)) is not None]
    if not panels:
        return []
    fig = Figure(figsize=(8.0, 2.6 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False).ravel()
    for ax, (protocol, g) in zip(axes, panels):
        r = stats.friedman_nemenyi(g.block_scores())
        ranks = r.mean_ranks
        k = len(ranks)
        ax.set_xlim(0.5, k + 0.5)
        ax.set_ylim(-len(ranks) / 2 - 1.5, 1.6)
        ax.hlines(0, 1, k, color="black", lw=1)
        for i in range(1, k + 1):
            ax.vlines(i, -0.1, 0.1, color="black", lw=1)
            ax.text(i, 0.25, str(i), ha="center", fontsize=8)
        half = (k + 1) // 2
        for j, (method, rank) in enumerate(ranks.items()):
            left = j < half
            y = -0.6 - 0.45 * (j if left else j - half)
            x_text = 0.6 if left else k + 0.4
            ax.plot([rank, rank, x_text], [0, y, y], color=colors.get(method, "#444"), lw=1)
            ax.text(x_text, y, f"{method} ({rank:.2f})", ha="right" if left else "left", va="center", fontsize=8,
                    color=colors.get(method, "#000"))
        if r.cd is not None:
            ax.plot([1, 1 + r.cd], [1.2, 1.2], color="black", lw=2)
            ax.text(1 + r.cd / 2, 1.3, f"CD = {r.cd:.2f}", ha="center", fontsize=8)
            _cliques(ax, ranks, r.cd)
            verdict = f"Friedman p = {r.p_value:.3g}, {r.n_blocks} datasets"
        else:
            verdict = f"{r.n_blocks} datasets: too few for the Friedman test"
        shots = int(g.rows["shots"].iloc[0])
        ax.set_title(f"{PROTOCOLS[protocol]} · {shots} shots · {backbone} · {verdict}", fontsize=9)
        ax.axis("off")
    return _save(fig, stem)


def _cliques(ax, ranks: pd.Series, cd: float) -> None:
    """Maximal runs of methods (in rank order) whose rank span is below the CD."""
    values = list(ranks.values)
    spans, level = [], 0
    for i in range(len(values)):
        j = i
        while j + 1 < len(values) and values[j + 1] - values[i] < cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in spans):
            spans.append((i, j))
    for a, b in spans:
        y = -0.3 - 0.12 * level
        ax.plot([values[a] - 0.05, values[b] + 0.05], [y, y], color="black", lw=3, solid_capstyle="round")
        level += 1


def pareto(ok: pd.DataFrame, backbone: str, colors: dict, stem: Path) -> list[Path]:
    """Accuracy (average over the datasets) vs training seconds per trial (log):
    recipe as circles, tuned as squares whose cost includes the search; the
    Pareto front of each is drawn as a step line."""
    fig = Figure(figsize=(6.6, 4.6), layout="constrained")
    ax = fig.subplots()
    drawn = False
    for protocol, marker in (("few_shot", "o"), ("tuned", "s")):
        g = _grid(ok, backbone, protocol)
        if g is None:
            continue
        points = {}
        for m in ordered(g.complete(), PAPER_METHODS):
            rows = g.rows[g.rows["method"] == m]
            acc = float(rows.groupby("dataset")["top1"].mean().mean())
            cost = rows["train_seconds"].fillna(0) + (rows["search_seconds"].fillna(0) if "search_seconds" in rows else 0)
            cost = float(cost.mean())
            if cost > 0:
                points[m] = (cost, acc)
        front = stats.pareto_front(points)
        for m, (c, a) in points.items():
            ax.scatter([c], [a], marker=marker, s=46, color=colors.get(m, "#444"),
                       edgecolor="black" if m in front else "none", zorder=3)
            ax.annotate(m, (c, a), xytext=(4, 3), textcoords="offset points", fontsize=7)
        steps = sorted(points[m] for m in front)
        if steps:
            ax.step([c for c, _ in steps], [a for _, a in steps], where="post", lw=1, ls="--", color="#555",
                    label=f"{PROTOCOLS[protocol]} Pareto front ({'squares' if marker == 's' else 'circles'})")
            drawn = True
    if not drawn:
        return []
    ax.set_xscale("log")
    ax.set_xlabel("training seconds per trial (tuned: + the search), log")
    ax.set_ylabel("top-1 (%), average over datasets")
    ax.set_title(f"Cost vs accuracy · {backbone}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, stem)


STAT_PLOTS = {"critical-difference": critical_difference, "pareto-cost-accuracy": pareto}
