"""A third-party report table, as a user would write it outside lore-bench: trials per method and status.

Registered through the ``lore_bench.report_tables`` entry-point group by the
tests, to prove a new report table is one file plus registration."""
from __future__ import annotations

import pandas as pd

from lore_bench.plots.tables import Cell, ReportTable, Table

STATUSES = ["ok", "failed", "diverged"]


class TrialsPerMethod(ReportTable):
    name = "trials_per_method"
    title = "Trials per method and status"
    order = 50  # after the efficiency table, before measured vs published
    kind = "plain"

    def build(self, rows: pd.DataFrame, ok: pd.DataFrame) -> list[Table]:
        if rows.empty:
            return []
        counts = (rows.drop_duplicates("trial_id").groupby(["method", "status"]).size()
                  .unstack(fill_value=0).reindex(columns=STATUSES, fill_value=0))
        cells = [[Cell(method), *(Cell(str(int(n))) for n in counts.loc[method])] for method in counts.index]
        return [Table(name=self.name, title=self.title, header=["Method", *STATUSES], rows=cells,
                      data=counts.reset_index())]
