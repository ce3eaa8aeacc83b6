"""A test method that fails on purpose: raises, returns a NaN loss, or SIGKILLs
its own worker process (what Ray's or the kernel's out-of-memory killer does)
at a chosen epoch, every attempt or only the first (remembered by a marker file).

The epoch count is a buffer saved in the trial's checkpoint, so a trial resumed
from epoch 1 sees epoch 2 again: "at epoch 2" means the same on every attempt.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lore_bench.methods import Method

FAULTS = ("none", "raise", "raise_once", "nan", "kill", "kill_once", "slow")


class FaultyHead(Method):
    """Cosine head on frozen features that fails as configured."""

    name = "faulty_head"
    caches_image_features = True

    @dataclass
    class Config:
        fault: str = "none"
        at_epoch: int = 2
        marker_dir: str = ""  # where attempts are recorded (one file per dataset/shots)
        sleep: float = 0.0  # seconds per epoch (keeps a trial running while a test kills things)

    def __init__(self, cfg, backbone, task):
        super().__init__(cfg, backbone, task)
        if cfg.fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}")
        with torch.no_grad():
            init = backbone.text.encode_texts(task.prompts())
        self.weight = nn.Parameter(init.clone())
        self.register_buffer("epochs_started", torch.zeros((), dtype=torch.long))
        self._nan = False

    def _marker(self, what: str) -> Path:
        return Path(self.cfg.marker_dir) / f"{self.task.dataset}-{self.task.shots}.{what}"

    def _record(self, what: str) -> None:
        if self.cfg.marker_dir:
            Path(self.cfg.marker_dir).mkdir(parents=True, exist_ok=True)
            with open(self._marker(what), "a") as fh:
                fh.write(f"{os.getpid()} epoch {int(self.epochs_started)}\n")

    def train(self, mode: bool = True):
        super().train(mode)
        if not mode or not hasattr(self, "epochs_started"):
            return self
        self.epochs_started += 1
        self._record("epochs")
        if int(self.epochs_started) == self.cfg.at_epoch:
            self._fire()
        if self.cfg.sleep:
            import time

            time.sleep(self.cfg.sleep)
        return self

    def _fire(self) -> None:
        fault = self.cfg.fault
        once = fault.endswith("_once")
        if once and self._marker("fired").exists():
            return
        if fault in ("none", "slow"):
            return
        self._record("fired")
        if fault.startswith("raise"):
            raise RuntimeError(f"injected failure at epoch {self.cfg.at_epoch}")
        if fault == "nan":
            self._nan = True
        elif fault.startswith("kill"):
            os.kill(os.getpid(), signal.SIGKILL)

    def training_step(self, batch):
        out = super().training_step(batch)
        if self._nan:
            out["loss"] = out["loss"] * float("nan")
        return out

    def logits_from_features(self, features):
        f = nn.functional.normalize(features.float(), dim=-1)
        w = nn.functional.normalize(self.weight, dim=-1)
        return 30.0 * f @ w.t()
