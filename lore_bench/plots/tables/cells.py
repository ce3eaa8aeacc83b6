"""A report table as data: display cells (with best / second-best marks) plus the tidy numbers behind them.

What to show, not how: the renderers in ``plots/render/`` turn a :class:`Table`
into Markdown, LaTeX, CSV and HTML. Cells and the CSV frame are built from the
same aggregates, so the two cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..aggregate import MISSING

#: Styling roles a table declares (its builder's ``kind``):
#: "paper": a paper-style table whose best / second-best marks are rendered (bold / underline);
#: "plain": numbers only, marks never rendered;
#: "problems": failed-trial rows (first column a status, last column an error message).
KINDS = ("paper", "plain", "problems")


@dataclass
class Cell:
    text: str
    value: float | None = None  # what "best" is decided on
    emph: str = ""  # "best" | "second" | ""


@dataclass
class Table:
    name: str  # file stem, unique in a report
    title: str
    header: list[str]
    rows: list[list[Cell]]
    data: pd.DataFrame  # tidy numbers for the CSV
    notes: list[str] = field(default_factory=list)
    short: str = ""  # link text in the HTML navigation
    kind: str = "plain"  # styling role, one of KINDS; build_tables sets it from the builder
    headline: bool = False  # its Average winner goes into the report header and the terminal summary

    def __post_init__(self):
        self.short = self.short or self.title.split(" · ")[0]

    def emph(self, cell: Cell) -> str:
        """The mark a renderer shows: a cell's best / second mark counts only in a "paper" table."""
        return cell.emph if self.kind == "paper" else ""


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()


def mark_best(rows: list[list[Cell]], columns: list[int], row_groups: list[list[int]] | None = None,
              digits: int = 2) -> None:
    """Mark the best and second-best value of each column, among the rows of
    each group; ties (at the displayed ``digits``) share the mark. A column
    with a single value gets no mark: there is nothing to beat; with two values
    only the best is marked."""
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


def numeric_column(table: Table, col: int) -> bool:
    """Right-align a column whose cells all read as numbers (or are missing)."""
    texts = [row[col].text for row in table.rows if row[col].text not in ("", MISSING)]
    return col > 0 and all(t[:1].isdigit() or t[:1] in "+-" for t in texts)
