"""Which per-epoch checkpoints a run keeps, and removing the others.

A trial's checkpoint exists so that a retried or interrupted trial resumes; once
its row is stored it has no use, except for a trial another trial depends on
(a frozen-feature trial reads its White Box from that checkpoint) or when the
user asks to keep them (``--keep-checkpoints``). The trainable removes its own
checkpoint after its final report was taken by the driver (Tune's function
trainables report synchronously: the report returns only once the driver's
callback has stored the rows), so this works on any node, shared storage or not.
A checkpoint another trial reads is removed by the driver at the end of the run,
once every trial of the run that reads it is stored ok (:func:`discard_consumed`).
"""
from __future__ import annotations

from pathlib import Path

from ..engine.checkpoint import checkpoint_root
from ..plan import dependencies
from ..spec import TrialSpec


def readers_of(specs: list[TrialSpec]) -> dict[str, list[str]]:
    """Trial id -> the trials of the run that read its checkpoint."""
    readers: dict[str, list[str]] = {}
    for spec in specs:
        for dep in dependencies(spec):
            readers.setdefault(dep.trial_id, []).append(spec.trial_id)
    return readers


def needed_by_dependents(specs: list[TrialSpec]) -> set[str]:
    """Trial ids whose checkpoint another trial of the run reads."""
    return set(readers_of(specs))


def discard(checkpoint_dir: str | Path | None, trial_id: str) -> bool:
    """Remove a trial's checkpoints (a folder or a URI root); True if there were any."""
    if not checkpoint_dir:
        return False
    return checkpoint_root(checkpoint_dir).discard(trial_id)


def discard_consumed(checkpoint_dir: str | Path | None, readers: dict[str, list[str]], stored_ok: set[str]) -> int:
    """Remove the checkpoints (a White Box, a search's validation record) that
    other trials of the run read (``readers``: :func:`readers_of`), once all of
    those are stored ok; returns how many trials' checkpoints went. A later run
    that adds a reader retrains the dependency (``plan_pending``), unless
    ``--keep-checkpoints`` kept it."""
    return sum(discard(checkpoint_dir, dep) for dep, ids in readers.items() if all(i in stored_ok for i in ids))


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
