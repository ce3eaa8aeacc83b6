"""TrialSpec: the frozen, JSON-serialisable description of one trial.

``trial_id`` is a hash of everything that changes the result — never of
where or when it runs — computed from canonical JSON (sorted keys, no
whitespace), so it is identical across machines, processes and Python hash
seeds.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from typing import Any

from .training import TRAINING_ID_LEGACY, TRAINING_NOT_IN_ID

#: Bump when a change to lore-bench changes results for the same spec; it is
#: part of every trial_id, so old results are not mistaken for new ones.
BENCHMARK_VERSION = "1"


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def training_identity(training: dict[str, Any]) -> dict[str, Any]:
    """The training keys that change a result: without those that never do
    (how often to checkpoint), and without a key added later while it holds
    the value every earlier trial had (so their ids stay)."""
    out = {k: v for k, v in training.items() if k not in TRAINING_NOT_IN_ID}
    for key, legacy in TRAINING_ID_LEGACY.items():
        if out.get(key, legacy) == legacy or not training.get("augment", True):
            out.pop(key, None)  # data_path only matters for augmented views
    return out


@dataclass(frozen=True)
class TrialSpec:
    method: str
    dataset: str
    backbone: dict[str, Any]  # resolved backbone config, includes "name"
    shots: int  # samples per class (per stage for easy_to_hard); 0 = no training images
    seed: int
    protocol: str = "few_shot"  # a registered protocol: few_shot | easy_to_hard | zero_shot | frozen_features | ...
    task: str = "classification"
    method_config: dict[str, Any] = field(default_factory=dict)  # resolved, defaults included
    training: dict[str, Any] = field(default_factory=dict)  # resolved, defaults included
    protocol_config: dict[str, Any] = field(default_factory=dict)
    plugin: str | None = None  # "pkg.module:Class" for suite-declared plugins
    benchmark_version: str = BENCHMARK_VERSION
    protocol_plugin: str | None = None  # "pkg.module:Class" for a suite-declared protocol
    recipe: str = "lore_bench"  # where the method's defaults came from: authors | paper | lore_bench
    # Not part of the id: where things are, and which suite asked for it.
    suite: str = ""
    data_root: str | None = None

    NON_RESULT_FIELDS = ("suite", "data_root")
    #: Fields added after trial ids were first published: they enter the id only
    #: when set, so every earlier trial keeps its id.
    OPTIONAL_FIELDS = ("protocol_plugin",)

    def identity(self) -> dict[str, Any]:
        """What the trial_id hashes (a deep copy: the caller may keep or change it)."""
        return json.loads(canonical_json(self._identity()))

    def _identity(self) -> dict[str, Any]:
        # Shallow: only serialised, never changed, so no deep copy (it was 91 % of expansion).
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.NON_RESULT_FIELDS}
        for key in self.OPTIONAL_FIELDS:
            if d[key] is None:
                d.pop(key)
        d["training"] = training_identity(self.training)
        return d

    @cached_property
    def trial_id(self) -> str:
        """Computed once per spec (the spec is frozen; its dicts are never changed after it is built)."""
        return hashlib.sha256(canonical_json(self._identity()).encode()).hexdigest()[:16]

    @property
    def backbone_name(self) -> str:
        return self.backbone.get("name", "?")

    def to_json(self) -> str:
        return canonical_json(asdict(self))

    @classmethod
    def from_json(cls, text: str | dict) -> "TrialSpec":
        data = json.loads(text) if isinstance(text, str) else dict(text)
        return cls(**data)

    def short(self) -> str:
        return f"{self.method}/{self.dataset}/{self.backbone_name}/{self.protocol}/k{self.shots}/s{self.seed}"
