"""What the generalization protocols share (base_to_novel, cross_dataset,
domain_generalization): the trial grid, which methods apply, and the note that
says which were skipped.

Each method's trial runs under the protocol itself, zero-shot methods too
(shots 0, the first seed): their figures are measured on the same class halves
or targets as every other method's, so they are not plain ``zero_shot`` trials.
"""
from __future__ import annotations

from typing import Callable, Iterator

from ...backbones import resolve_backbone
from ...methods.registry import resolve_method
from ..grid import resolved
from ..spec import TrialSpec

#: (method class, resolved backbone config) -> whether the protocol can score it
Applicable = Callable[[type, dict], bool]


def scores_unseen(method_cls, backbone: dict) -> bool:
    return method_cls.can_score_unseen_classes(backbone)


def grid(suite, protocol: str, applicable: Applicable, protocol_config: dict | None = None) -> Iterator[TrialSpec]:
    """The backbones x methods x datasets x shots x seeds grid of the methods
    ``applicable`` admits; methods that learn nothing from images: shots 0, first seed."""
    config = dict(suite.protocol_config if protocol_config is None else protocol_config)
    for backbone_ref in suite.backbones:
        backbone = resolve_backbone(backbone_ref)
        for entry in suite.methods:
            cls = resolve_method(entry.name, entry.plugin)
            if not applicable(cls, backbone):
                continue
            recipe = entry.recipe or suite.recipe
            runs = ([(s, seed) for s in suite.shots for seed in suite.seeds] if cls.uses_training_data
                    else [(0, suite.seeds[0])])
            for dataset in suite.datasets:
                for shots, seed in runs:
                    yield TrialSpec(method=entry.name, dataset=dataset, backbone=backbone, shots=shots, seed=seed,
                                    protocol=protocol, protocol_config=dict(config), plugin=entry.plugin,
                                    suite=suite.name, data_root=suite.data_root,
                                    **resolved(cls, dataset, shots, backbone, protocol, recipe, entry.config,
                                               suite.training, entry.training))


def skipped(suite, applicable: Applicable) -> list[tuple[str, str]]:
    """(backbone name, method) pairs of the suite that the protocol cannot score."""
    out = []
    for backbone_ref in suite.backbones:
        backbone = resolve_backbone(backbone_ref)
        for entry in suite.methods:
            if not applicable(resolve_method(entry.name, entry.plugin), backbone):
                out.append((backbone["name"], entry.name))
    return out


def skip_note(protocol: str, pairs: list[tuple[str, str]], why: str) -> list[str]:
    if not pairs:
        return []
    listed = ", ".join(f"{m} ({b})" for b, m in pairs)
    return [f"{protocol}: not applicable, skipped: {listed} — {why} (docs/generalization.md)"]
