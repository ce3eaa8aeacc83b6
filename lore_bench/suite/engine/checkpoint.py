"""Checkpoints of a trial's trainable state, so a retried or resumed trial
continues where it stopped. One file per stage, replaced atomically; read back
with ``torch.load(weights_only=True)`` (tensors and plain data only).

Written at most every ``every_s`` seconds (``training.checkpoint_every_s``), not
every epoch: a LORE trial on ViT-B/16 writes ~72 MB per save. After the last
epoch of a stage only when something reads it (``keep_final``: a White Box that
a frozen-feature trial loads, the easy stage an easy-to-hard trial builds on).
A resumed trial replays the epochs after its last save exactly: data order and
augmentation are reseeded per (seed, epoch)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch


def checkpoint_file(checkpoint_dir: str | Path, trial_id: str, stage: str = "main") -> Path:
    """Where a trial's stage checkpoint lives under a run's checkpoint directory."""
    return Path(checkpoint_dir) / trial_id / f"stage-{stage}.pt"


class StageCheckpoint:
    def __init__(self, directory: Path, every_s: float = 0.0, keep_final: bool = True):
        self.directory = Path(directory)
        self.every_s = float(every_s)
        self.keep_final = keep_final
        self._last_save = time.monotonic()  # the trial's start counts as a save point
        self.saves = 0  # files written by this object (tests and perf scripts read it)

    def due(self, last_epoch: bool, keep_final: bool | None = None) -> bool:
        """Whether to save the epoch that just ended."""
        if last_epoch:
            return self.keep_final if keep_final is None else keep_final
        return self.every_s <= 0 or time.monotonic() - self._last_save >= self.every_s

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
        self._last_save = time.monotonic()
        self.saves += 1

    def load(self, stage: str) -> dict | None:
        path = self.path(stage)
        if not path.exists():
            return None
        try:
            return torch.load(path, weights_only=True, map_location="cpu")
        except Exception:  # torn by a crash mid-write of an older format: start the stage afresh
            return None
