"""The tuned protocol's own keys (its ``Config``), shared by the expansion
(tuned.py) and the trials (tuned_trials.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..spec import TrialSpec

SCHEDULERS = ("asha", "median_stopping", "fifo")
ROLE_SEARCH, ROLE_FINAL = "search", "final"


@dataclass
class TunedConfig:
    #: Configurations tried per (method, dataset, shots, seed): the recipe, then samples.
    configs: int = field(default=8, metadata={"min": 1})
    #: Epoch budget per configuration (a method's ``epochs`` is searched as a share
    #: of it); the same for every method, so the search budget is configs x max_epochs.
    max_epochs: int = field(default=10, metadata={"min": 1})
    #: Share of the K shots per class held out for validation (at least one image
    #: per class, at least one left to train on).
    val_share: float = field(default=0.25, metadata={"min": 0.0})
    #: Ray Tune scheduler that stops bad configurations early (``tune.schedulers``).
    scheduler: str = field(default="asha", metadata={"choices": SCHEDULERS})
    #: ASHA / median stopping: epochs before a configuration may be stopped.
    grace_period: int = field(default=1, metadata={"min": 1})
    #: ASHA: keep the top 1/reduction_factor at each rung.
    reduction_factor: int = field(default=2, metadata={"min": 2})
    #: As in few_shot: score on a fixed class-balanced test subset (CPU demos).
    eval_subset: int = field(default=0, metadata={"min": 0})


def config_of(spec: TrialSpec) -> TunedConfig:
    own = TunedConfig.__dataclass_fields__
    return TunedConfig(**{k: v for k, v in spec.protocol_config.items() if k in own})
