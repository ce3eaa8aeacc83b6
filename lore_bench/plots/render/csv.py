"""A table's tidy numbers (its ``data`` frame, not its display cells) as CSV text."""
from __future__ import annotations

from ..tables.cells import Table


def table_csv(table: Table) -> str:
    return table.data.to_csv(index=False)
