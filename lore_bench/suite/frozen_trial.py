"""A frozen-feature trial: the backbone alone, or prompted by the White Box of
a finished classification trial (its per-epoch checkpoint of the last epoch)."""
from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from ..results.schema import STATUS_OK
from .checkpoint import StageCheckpoint
from .spec import TrialSpec


def run_frozen(spec: TrialSpec, backbone, device: torch.device, checkpoint_dir) -> list[dict]:
    from ..benchmarks.frozen import run_frozen_trial
    from .engine import base_row

    white_box = None
    source = spec.protocol_config.get("white_box_spec")
    if source:
        source_spec = replace(TrialSpec.from_json(source), suite=spec.suite, data_root=spec.data_root)
        white_box = trained_white_box(source_spec, backbone, device, checkpoint_dir)
        white_box.eval()
    with torch.no_grad():
        fragments = run_frozen_trial(spec, backbone, device, white_box=white_box)
    base = base_row(spec, white_box, None)
    return [{**base, "stage": "main", "status": STATUS_OK, **f} for f in fragments]


def trained_white_box(source: TrialSpec, backbone, device, checkpoint_dir):
    """The method of ``source`` with its trained weights; trains it first (in this
    worker, checkpointed) when its last-epoch checkpoint is not there."""
    from .engine import build_method, run_trial

    directory = Path(checkpoint_dir) if checkpoint_dir else Path(tempfile.mkdtemp(prefix="lb-whitebox-"))
    store = StageCheckpoint(directory / source.trial_id)
    state = store.load("main")
    if state is None or state["epoch"] + 1 < int(source.training.get("epochs", 0)):
        run_trial(source, checkpoint_dir=directory, device=device)
        state = store.load("main")
    method = build_method(source, backbone, device)
    if state is None:
        raise RuntimeError(f"White Box trial {source.trial_id} ({source.short()}) left no checkpoint")
    method.load_trainable_state_dict(state["method"])
    return method
