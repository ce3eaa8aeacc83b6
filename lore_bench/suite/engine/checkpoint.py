"""Per-epoch checkpoints of a trial's trainable state, so a retried or resumed
trial continues where it stopped. One file per stage, replaced atomically;
read back with ``torch.load(weights_only=True)`` (tensors and plain data only)."""
from __future__ import annotations

import os
from pathlib import Path

import torch


def checkpoint_file(checkpoint_dir: str | Path, trial_id: str, stage: str = "main") -> Path:
    """Where a trial's stage checkpoint lives under a run's checkpoint directory."""
    return Path(checkpoint_dir) / trial_id / f"stage-{stage}.pt"


class StageCheckpoint:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def path(self, stage: str) -> Path:
        return checkpoint_file(self.directory.parent, self.directory.name, stage)

    def save(self, stage: str, state: dict) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(stage)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            torch.save(state, tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a full disk (or a kill signal we can catch) leaves no partial file
            raise

    def load(self, stage: str) -> dict | None:
        path = self.path(stage)
        if not path.exists():
            return None
        try:
            return torch.load(path, weights_only=True, map_location="cpu")
        except Exception:  # torn by a crash mid-write of an older format: start the stage afresh
            return None
