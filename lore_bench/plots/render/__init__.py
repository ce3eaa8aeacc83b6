"""Renderers: a report's tables as Markdown, LaTeX (booktabs), CSV and one self-contained HTML page."""
