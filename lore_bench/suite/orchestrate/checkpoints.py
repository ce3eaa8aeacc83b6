"""Which per-epoch checkpoints a run keeps, and removing the others.

A trial's checkpoint exists so that a retried or interrupted trial resumes; once
its row is stored it has no use, except for a trial another trial depends on
(a frozen-feature trial reads its White Box from that checkpoint) or when the
user asks to keep them (``--keep-checkpoints``). The trainable removes its own
checkpoint after its final report was taken by the driver (Tune's function
trainables report synchronously: the report returns only once the driver's
callback has stored the rows), so this works on any node, shared storage or not.
"""
from __future__ import annotations

from pathlib import Path

from ..engine.checkpoint import checkpoint_root
from ..plan import dependencies
from ..spec import TrialSpec


def needed_by_dependents(specs: list[TrialSpec]) -> set[str]:
    """Trial ids whose checkpoint another trial of the run reads."""
    return {dep.trial_id for spec in specs for dep in dependencies(spec)}


def discard(checkpoint_dir: str | Path | None, trial_id: str) -> bool:
    """Remove a trial's checkpoints (a folder or a URI root); True if there were any."""
    if not checkpoint_dir:
        return False
    return checkpoint_root(checkpoint_dir).discard(trial_id)


def remove_partial_files(directory: str | Path, prefix: str = "") -> list[Path]:
    """Temp files (``.<name>.tmp``) a write torn by a full disk left behind,
    those of one trial when ``prefix`` (its id) is given."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for tmp in directory.glob(f".{prefix}*.tmp"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed
