"""What a trial reads, to compare a reused process with a fresh one: the trial's
scores and an exact digest of the process-cached backbone.

As a script (a fresh process): ``python tests/isolation_probe.py [--threads N] SPEC_JSON...``
runs each spec and prints one JSON list of ``{"scores", "tower"}``.
"""
from __future__ import annotations

import hashlib
import json
import sys

import torch


def tower_digest(backbone) -> str:
    """SHA-256 of every tensor's bytes, shape, dtype and requires_grad (independent
    of the engine's own fingerprint, so the tests do not check it against itself)."""
    h = hashlib.sha256()
    tensors = list(backbone.named_parameters(remove_duplicate=False)) + list(backbone.named_buffers())
    for name, t in sorted(tensors, key=lambda item: item[0]):
        raw = t.detach().reshape(-1).contiguous().cpu().view(torch.uint8)
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|{t.requires_grad}|".encode())
        h.update(raw.numpy().tobytes())
    return h.hexdigest()


def scores(row: dict) -> dict:
    return {k: row[k] for k in ("status", "top1", "macro_f1", "per_class_acc")}


def probe(spec) -> dict:
    from lore_bench import run_trial
    from lore_bench.backbones import build_backbone

    row = run_trial(spec).rows[0]
    return {"scores": scores(row), "tower": tower_digest(build_backbone(spec.backbone))}


def main(argv: list[str]) -> None:
    if argv[:1] == ["--threads"]:
        torch.set_num_threads(int(argv[1]))
        argv = argv[2:]
    from lore_bench.suite.spec import TrialSpec

    print(json.dumps([probe(TrialSpec.from_json(text)) for text in argv]))


if __name__ == "__main__":
    main(sys.argv[1:])
