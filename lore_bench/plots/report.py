"""`lore-bench report`: the store's rows -> every registered report table (md/tex/csv/html) and the plots.

Layout written under ``out_dir``::

    report.md  report.tex  report.html      everything in one file per format
    tables/<name>.{md,tex,csv}              each table on its own (for papers, spreadsheets)
    figures/<name>.{png,pdf}                each plot
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .aggregate import (AVERAGE, ReportError, configuration_clashes, load_trials, normalise, ok_rows, problem_rows,
                        trial_status_counts)
from .figure_jobs import draw_all
from .figures import PLOTS, method_colors
from .render.csv import table_csv
from .render.html import html_document
from .render.latex import latex_document, table_latex
from .render.markdown import markdown_document, table_markdown
from .tables import Table, build_tables, slug
from .tables.builder import needed_columns

PLOT_COLUMNS = ("trainable_params", "train_seconds")  # what figures.PLOTS read beyond the base columns

FORMATS = ("md", "tex", "csv", "html")
TITLE = "lore-bench report"


@dataclass
class ReportSummary:
    out_dir: Path
    paths: list[Path] = field(default_factory=list)  # every file written
    text: str = ""  # a few lines for the terminal
    summary_markdown: str = ""  # markdown_summary of the same rows, from the tables already built

    def __str__(self) -> str:
        return self.text


def report_notes(rows: pd.DataFrame, ok: pd.DataFrame, source: str) -> list[str]:
    counts = trial_status_counts(rows)
    seeds = sorted(s for s in ok["seed"].unique() if s >= 0)
    suites = sorted(rows["suite"].dropna().unique())
    versions = sorted(rows["lore_bench_version"].dropna().unique())
    # A suite may evaluate on a fixed class-balanced subset (protocol.eval_subset, CPU demos): say so.
    subset = rows["spec_json"].dropna().str.contains('"eval_subset":[1-9]', regex=True).any()
    split = "a fixed class-balanced subset of the test split (protocol.eval_subset)" if subset else "the full test split"
    recipes = rows["recipe"].fillna("lore_bench (before recipes were recorded)").value_counts() \
        if "recipe" in rows else pd.Series(dtype=int)
    return [
        "Recipe (where each method's defaults came from; docs/methods.md): "
        + (", ".join(f"{name} ({n} rows)" for name, n in recipes.items()) or "not recorded") + ".",
        f"Metric: top-1 accuracy (%) on {split}, last epoch reported, no test-set selection "
        "(no epoch, checkpoint or hyper-parameter is chosen on test images).",
        "Backbone: " + ", ".join(sorted(rows["backbone"].unique())) + ".",
        f"Seeds: {len(seeds)} ({', '.join(map(str, seeds)) or 'none'}); cells are mean ± sample std over seeds; "
        "a cell with fewer seeds than the rest says (n=…).",
        f"Trials: {sum(counts.values())} — " + ", ".join(f"{n} {s}" for s, n in counts.items())
        + "; a missing or failed cell shows –; failed and diverged trials are listed at the end.",
        "Best per column in bold, second underlined. Average: mean over the table's datasets, "
        "shown only when every dataset has a result.",
        f"Source: {source}" + (f"; suite {', '.join(suites)}" if suites else "")
        + (f"; lore-bench {', '.join(versions)}" if versions else "") + ".",
    ]


def clash_warning(ok: pd.DataFrame) -> list[str]:
    """A note when some table cells would average different configurations as if they were seeds."""
    clashes = configuration_clashes(ok)
    if clashes.empty:
        return []
    first = clashes.iloc[0]
    return [f"WARNING: {len(clashes)} (cell, seed) pairs hold results of more than one configuration (e.g. "
            f"{first['method']} on {first['dataset']}, {first['shots']} shots, seed {first['seed']}, backbone "
            f"{first['backbone']}: {first['trials']} trials); the tables average them as if they were seeds. "
            "Report one suite at a time (`lore-bench report --suite NAME`) or keep such runs in separate "
            "stores (`--results DIR`)."]


def headline(tables: list[Table]) -> list[str]:
    """Who wins the Average column of each headline table (Table 1), and by how much."""
    lines = []
    for t in tables:
        if not t.headline or t.data.empty:
            continue
        avg = t.data[(t.data["dataset"] == AVERAGE) & t.data["mean"].notna()].sort_values("mean", ascending=False)
        if avg.empty:
            lines.append(f"{t.title}: no method has every dataset, no average winner.")
            continue
        best = avg.iloc[0]
        margin = ""
        if len(avg) > 1:
            gap, runner = best["mean"] - avg.iloc[1]["mean"], avg.iloc[1]["row"]
            margin = f", +{gap:.2f} over {runner}" if round(gap, 2) > 0 else f", tied with {runner}"
        lines.append(f"{t.title}: best average {best['row']} {best['mean']:.2f}{margin}.")
    return lines


def report_columns() -> list[str] | None:
    """The store columns a report reads: what its tables and plots declare (None: all)."""
    return needed_columns(PLOT_COLUMNS)


def build_report(results_dir, out_dir, formats=FORMATS, suite: str | None = None,
                 raw: pd.DataFrame | None = None, jobs: int | None = None) -> ReportSummary:
    """Write the report of the store at ``results_dir`` into ``out_dir``.

    ``formats``: any of "md", "tex", "csv", "html" (the plots are always written).
    ``suite``: only rows of this suite. ``raw``: that store's rows already read
    (``ResultsStore.trials(columns=report_columns())``), so it is read once.
    ``jobs``: processes drawing the figures, one backbone each (None: one per
    core for three or more backbones; 1: this process; plots/figure_jobs.py).
    Raises ``ReportError`` (a ValueError) when there is nothing to report, with
    a message for the user.
    """
    formats = tuple(formats)
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown report format(s) {sorted(unknown)}; choose from {', '.join(FORMATS)}")
    out = Path(out_dir).expanduser()
    rows = load_trials(results_dir, suite, columns=report_columns(), raw=raw)
    ok = ok_rows(rows)
    warning = clash_warning(ok)
    notes = warning + report_notes(rows, ok, str(Path(results_dir)))
    if "spec_json" in rows and "spec_json" not in (needed_columns() or ["spec_json"]):
        rows = rows.drop(columns="spec_json")  # only the notes read it; the longest column, every filter copies it
        ok = ok_rows(rows)
    tables = build_tables(rows, ok)
    summary = ReportSummary(out, summary_markdown=_summary_text(rows, tables))

    colors = method_colors(rows["method"])
    backbones = sorted(rows["backbone"].unique())
    figures: list[tuple[Path, str]] = []  # (png, caption)
    suffix = {b: f"-{slug(b)}" if len(backbones) > 1 else "" for b in backbones}  # no "_": names go into LaTeX
    stems = {b: {name: out / "figures" / f"{name}{suffix[b]}" for name in PLOTS} for b in backbones}
    drawn = draw_all(ok, backbones, colors, stems, jobs)
    for backbone in backbones:
        for name, written in drawn[backbone]:
            summary.paths += written
            if written:
                figures.append((written[0], f"{name.replace('-', ' ')} · {backbone}"))

    def write(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        summary.paths.append(path)

    top = headline(tables)
    if "md" in formats:
        figs_md = [(png.relative_to(out).as_posix(), cap) for png, cap in figures]
        write(out / "report.md", markdown_document(TITLE, notes + top, tables, figs_md))
    for t in tables:
        if "md" in formats:
            write(out / "tables" / f"{t.name}.md", table_markdown(t, "#") + "\n")
        if "tex" in formats:
            write(out / "tables" / f"{t.name}.tex", table_latex(t))
        if "csv" in formats:
            write(out / "tables" / f"{t.name}.csv", table_csv(t))
    if "tex" in formats:
        pdfs = [png.with_suffix(".pdf").relative_to(out).as_posix() for png, _ in figures]
        write(out / "report.tex", latex_document(TITLE, notes + top, tables, pdfs))
    if "html" in formats:
        write(out / "report.html", html_document(TITLE, notes + top, tables, figures))

    counts = trial_status_counts(rows)
    summary.text = "\n".join([
        *warning,
        f"{sum(counts.values())} trials (" + ", ".join(f"{n} {s}" for s, n in counts.items())
        + f") · backbone {', '.join(backbones)}",
        *top,
        f"wrote {len(summary.paths)} files to {out}"
        + (f" — open {out / 'report.html'}" if "html" in formats else ""),
    ])
    return summary


def markdown_summary(df: pd.DataFrame) -> str:
    """Top-1 mean ± std over seeds, methods x datasets (+ Average), one table per
    backbone and shot count; ``df`` is ``ResultsStore(root).trials()``."""
    if df.empty:
        return "No results in the store yet."
    rows = df if "zero_shot" in df.columns else normalise(df)
    return _summary_text(rows, build_tables(rows, ok_rows(rows), headline_only=True))


def _summary_text(rows: pd.DataFrame, tables: list[Table]) -> str:
    parts = [table_markdown(t, "###", marks=False)  # plain text for a terminal
             for t in tables if t.headline]
    problems = problem_rows(rows)
    if len(problems):
        parts.append(f"{len(problems)} trial(s) failed or diverged; `lore-bench report` lists them with their errors.")
    return "\n".join(parts).rstrip() + "\n"


__all__ = ["build_report", "markdown_summary", "ReportSummary", "ReportError", "FORMATS"]
