"""Reporting: paper-style tables and plots from the results store.

Entry points live in :mod:`lore_bench.plots.report` (``build_report``,
``markdown_summary``); nothing is imported here so that importing the package
does not pull in matplotlib.
"""
