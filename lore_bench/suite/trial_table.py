"""The ``--dry-run`` trial table."""
from __future__ import annotations

from .spec import TrialSpec


def trial_table(specs: list[TrialSpec], pending: set[str]) -> str:
    header = ("trial_id", "method", "dataset", "backbone", "protocol", "shots", "seed", "recipe", "epochs", "lr",
              "batch", "state")
    rows = [(s.trial_id, s.method, s.dataset, s.backbone_name, s.protocol, str(s.shots), str(s.seed), s.recipe,
             str(s.training.get("epochs", "")), f"{s.training['lr']:g}" if "lr" in s.training else "",
             str(s.training.get("batch_size", "")), "pending" if s.trial_id in pending else "stored")
            for s in specs]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])
