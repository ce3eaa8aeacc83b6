"""Report tables: one module per family, found through the REPORT_TABLES registry.

Families: classification (Tables 1, 3), frozen features (Table 4), efficiency,
measured vs published, failed trials. Importing this package registers nothing:
the built-in modules are imported the first time the registry is asked for a name.
"""
from .builder import REPORT_TABLES, ReportTable, build_tables, report_tables
from .cells import KINDS, Cell, Table, mark_best, numeric_column, slug

__all__ = ["REPORT_TABLES", "ReportTable", "build_tables", "report_tables", "KINDS", "Cell", "Table",
           "mark_best", "numeric_column", "slug"]
