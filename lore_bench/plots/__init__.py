"""Reporting: the results store -> report tables, figures and the published figures to compare with.

    aggregate.py   store rows -> the normalised frame and the shared statistics (mean ± std, Average)
    tables/        report tables, one module per family, found through the REPORT_TABLES registry
    figures.py     the plots (matplotlib, PNG + PDF)
    render/        tables -> Markdown, LaTeX, CSV, self-contained HTML
    published/     the LORE paper's figures as CSV data, and their loaders
    report.py      build_report / markdown_summary: the entry points

Nothing is imported here, so importing the package does not pull in matplotlib.
"""
