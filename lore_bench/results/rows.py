"""The columns every stored row shares: what the spec says and where the code came from.

Pure data (no torch, no Ray): the driver builds a failed trial's row from
these alone, without importing the worker's engine.
"""
from __future__ import annotations

from typing import Any

from .. import __version__
from ..suite.spec import canonical_json
from . import provenance
from .schema import STATUS_FAILED


def spec_columns(spec) -> dict[str, Any]:
    """The row columns a :class:`~lore_bench.suite.spec.TrialSpec` determines."""
    return {
        "trial_id": spec.trial_id, "suite": spec.suite, "task": spec.task, "method": spec.method,
        "backbone": spec.backbone_name, "dataset": spec.dataset, "protocol": spec.protocol,
        "recipe": spec.recipe,
        "shots": spec.shots, "seed": spec.seed, "method_config": canonical_json(spec.method_config),
        "training_config": canonical_json(spec.training), "spec_json": spec.to_json(),
    }


def provenance_columns() -> dict[str, Any]:
    return {"lore_bench_version": __version__, "git_sha": provenance.git_sha(),
            "package_versions": provenance.package_versions(), "hostname": provenance.hostname()}


def failure_row(spec, error: str) -> dict[str, Any]:
    """The one row stored for a trial that failed (after its retries)."""
    return {**spec_columns(spec), **provenance_columns(), "trainable_params": 0, "stage": "main",
            "eval_split": "test", "status": STATUS_FAILED, "error": error}
