"""Run one trial without Ray: build the backbone on a device, hand the trial to its protocol.

The orchestrator calls this inside Ray workers; a notebook can call
``lore_bench.run_trial(spec)`` directly. Exceptions propagate (the
orchestrator retries and records them); a non-finite loss ends the trial with
status ``diverged``; a trial that changed the shared backbone raises
``BackboneChangedError``.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..backbones import pristine_backbone
from .engine.context import EpochCallback, TrialOutput, pick_device
from .engine.memory import start_trial_memory
from .protocols import ProtocolInputs, resolve_protocol
from .spec import TrialSpec


def run_trial(spec: TrialSpec, on_epoch: EpochCallback | None = None, checkpoint_dir: str | Path | None = None,
              device: torch.device | str | None = None, keep_checkpoint: bool = True) -> TrialOutput:
    """``keep_checkpoint``: save the final state under ``checkpoint_dir`` (a
    later trial may read it); the orchestrator passes False for trials whose
    checkpoint it removes once stored, so they skip that write."""
    device = torch.device(device) if device else pick_device()
    protocol = resolve_protocol(spec.protocol, spec.protocol_plugin)
    # The process-cached backbone, checked after the trial: a method that changed
    # it fails here (naming itself) and the next trial gets a fresh build.
    with pristine_backbone(spec.backbone, device, method=spec.method) as backbone:
        start_trial_memory(device)  # peak memory is this trial's, not the worker's lifetime
        return protocol.run(ProtocolInputs(spec, backbone, device, checkpoint_dir, on_epoch, keep_checkpoint))
