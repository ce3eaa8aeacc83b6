"""The failed and diverged trials, each with the last line of its error, so no missing number is silent."""
from __future__ import annotations

import pandas as pd

from ...errors import user_error_line
from ..aggregate import MISSING, problem_rows
from .builder import REPORT_TABLES, ReportTable
from .cells import Cell, Table


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


@REPORT_TABLES.register()
class ProblemTables(ReportTable):
    name = "failed_trials"
    columns = ()
    title = "Failed and diverged trials with their error"
    order, kind = 90, "problems"

    def build(self, rows: pd.DataFrame, ok: pd.DataFrame) -> list[Table]:
        return [problems_table(problem_rows(rows))]
