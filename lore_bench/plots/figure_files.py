"""Writing a figure: PNG for the HTML / Markdown report, PDF for LaTeX."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    fig.savefig(png, dpi=120)
    fig.savefig(pdf, metadata={"CreationDate": None})  # same input, same bytes
    return [png, pdf]
