"""The report-table registry: every table family is a ReportTable subclass, found by name like a method.

Built-ins live in the modules of ``lore_bench.plots.tables`` and register with
``@REPORT_TABLES.register()``; a third party registers through the entry-point
group ``lore_bench.report_tables`` (``name = "package.module:Class"``) or with
``REPORT_TABLES.add(name, cls)``. ``build_report`` builds them in ``order``.
"""
from __future__ import annotations

from typing import ClassVar

import pandas as pd

from ...plugins import Registry
from .cells import KINDS, Table


class ReportTable:
    """One family of report tables, e.g. Table 1: one table per backbone and shot count.

    ``build`` gets every normalised row of the store (``rows``, any status) and
    the rows that count for accuracy (``ok``: ok, with a top-1, test split), and
    returns zero or more tables; an empty store must give an empty list, not an
    error. ``kind`` is the styling role (see ``cells.KINDS``); ``headline``: the
    winner of each table's Average column is named in the report header and the
    table is printed by ``markdown_summary`` (the terminal view after a run);
    such a table's ``data`` has ``row``, ``dataset`` and ``mean`` columns, the
    Average in the rows whose dataset is ``aggregate.AVERAGE``.
    """

    #: Store columns ``build`` reads beyond ``aggregate.BASE_COLUMNS``; None (the
    #: default, safe for any plugin): every column. A report reads from disk only
    #: the union of what its tables and plots declare, which at 100,000 stored
    #: trials is the difference between seconds and a minute.
    columns: ClassVar[tuple[str, ...] | None] = None
    name: ClassVar[str] = ""  # the registry name
    title: ClassVar[str] = ""  # what the family shows, in one line
    order: ClassVar[int] = 100  # position in the report, lowest first; ties by name
    kind: ClassVar[str] = "plain"
    headline: ClassVar[bool] = False

    def build(self, rows: pd.DataFrame, ok: pd.DataFrame) -> list[Table]:
        raise NotImplementedError


REPORT_TABLES: Registry[type[ReportTable]] = Registry(
    "report table", "lore_bench.plots.tables", "lore_bench.report_tables")


def _check(key: str, cls) -> type[ReportTable]:
    where = f"report table '{key}' ({getattr(cls, '__module__', type(cls).__name__)})"
    if not (isinstance(cls, type) and issubclass(cls, ReportTable)):
        raise TypeError(f"{where} must be a subclass of lore_bench.plots.tables.ReportTable")
    if cls.name != key:
        raise TypeError(f"{where} declares name '{cls.name}'; register it under that name")
    if not cls.title:
        raise TypeError(f"{where} has no title")
    if cls.kind not in KINDS:
        raise TypeError(f"{where} has kind '{cls.kind}'; choose one of {', '.join(KINDS)}")
    if not isinstance(cls.order, (int, float)):
        raise TypeError(f"{where} has order {cls.order!r}; it must be a number")
    return cls


def report_tables() -> list[type[ReportTable]]:
    """Every registered table family, checked, in report order."""
    found = [_check(key, REPORT_TABLES.get(key)) for key in REPORT_TABLES.names()]
    return sorted(found, key=lambda cls: (cls.order, cls.name))


def needed_columns(extra: tuple[str, ...] = ()) -> list[str] | None:
    """The store columns every registered table (and ``extra``) needs; None: all."""
    from ..aggregate import BASE_COLUMNS

    wanted = set(BASE_COLUMNS) | set(extra)
    for cls in report_tables():
        if cls.columns is None:
            return None
        wanted |= set(cls.columns)
    return sorted(wanted)


def build_tables(rows: pd.DataFrame, ok: pd.DataFrame, headline_only: bool = False) -> list[Table]:
    """Every family's tables in report order, each stamped with its family's styling role."""
    tables: list[Table] = []
    made_by: dict[str, str] = {}
    for cls in report_tables():
        if headline_only and not cls.headline:
            continue
        for table in cls().build(rows, ok):
            table.kind, table.headline = cls.kind, cls.headline
            if table.name in made_by:  # the second would overwrite the first's files
                raise ValueError(f"report tables '{made_by[table.name]}' and '{cls.name}' both build a table "
                                 f"named '{table.name}'; table names must be unique in a report")
            made_by[table.name] = cls.name
            tables.append(table)
    return tables
