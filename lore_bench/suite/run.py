"""Run one trial without Ray: build the backbone on a device, hand the trial to its protocol.

The orchestrator calls this inside Ray workers; a notebook can call
``lore_bench.run_trial(spec)`` directly. Exceptions propagate (the
orchestrator retries and records them); a non-finite loss ends the trial with
status ``diverged``.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..backbones import build_backbone
from .engine.context import EpochCallback, TrialOutput, pick_device
from .protocols import ProtocolInputs, resolve_protocol
from .spec import TrialSpec


def run_trial(spec: TrialSpec, on_epoch: EpochCallback | None = None, checkpoint_dir: str | Path | None = None,
              device: torch.device | str | None = None) -> TrialOutput:
    device = torch.device(device) if device else pick_device()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    protocol = resolve_protocol(spec.protocol, spec.protocol_plugin)
    backbone = build_backbone(spec.backbone).to(device)
    return protocol.run(ProtocolInputs(spec, backbone, device, checkpoint_dir, on_epoch))
