"""Writing a figure: PNG for the HTML / Markdown report, PDF for LaTeX."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    fig.savefig(png, dpi=120)
    # The PNG's draw placed every axis (constrained layout); the PDF keeps those
    # positions instead of solving the layout again (a quarter of a
    # twelve-panel figure's time).
    fig.set_layout_engine("none")
    fig.savefig(pdf, metadata={"CreationDate": None})  # same input, same bytes
    return [png, pdf]
