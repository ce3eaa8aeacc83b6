"""Frozen-feature suites (LORE Table 4): each retrieval / correspondence /
video-segmentation dataset evaluated on the frozen backbone and, for a method
with a White Box (``prompts_for``, i.e. LORE), on the backbone prompted by the
White Box of a classification trial named by ``protocol.white_box``
({dataset, shots, seed}).

The frozen trial carries the full spec of that classification trial, so it can
load its saved weights (same checkpoint directory) or, if they are not there
yet, train it first — Tune does not order trials.
"""
from __future__ import annotations

from ..backbones import resolve_backbone
from ..benchmarks.frozen import FROZEN_DATASETS
from ..methods.registry import resolve_method
from .config import Suite, SuiteError
from .spec import TrialSpec


def expand_frozen(suite: Suite) -> list[TrialSpec]:
    from .expand import resolve_method_config, resolve_training

    options = dict(suite.protocol_config.get("options") or {})
    wb = suite.protocol_config.get("white_box") or {}
    specs: list[TrialSpec] = []
    for backbone_ref in suite.backbones:
        backbone = resolve_backbone(backbone_ref)
        for entry in suite.methods:
            cls = resolve_method(entry.name, entry.plugin)
            protocol_config = dict(options)
            method_config: dict = {}
            if callable(getattr(cls, "prompts_for", None)):
                if not wb:
                    raise SuiteError(suite.path, None, "protocol.white_box",
                                     f"method '{entry.name}' evaluates a trained White Box: say which classification "
                                     "trial trains it, e.g. white_box: {dataset: imagenet, shots: 16, seed: 1}")
                shots, seed = int(wb.get("shots", 16)), int(wb.get("seed", 1))
                method_config = resolve_method_config(cls, wb["dataset"], shots, entry.config)
                source = TrialSpec(method=entry.name, dataset=wb["dataset"], backbone=backbone, shots=shots,
                                   seed=seed, method_config=method_config,
                                   training=resolve_training(cls, wb["dataset"], shots, suite.training, entry.training),
                                   plugin=entry.plugin, suite=suite.name, data_root=suite.data_root)
                protocol_config["white_box_spec"] = source.identity()
            for dataset in suite.datasets:
                specs.append(TrialSpec(method=entry.name, dataset=dataset, backbone=backbone, shots=0, seed=0,
                                       protocol="frozen_features", task=FROZEN_DATASETS[dataset],
                                       method_config=method_config, training={}, protocol_config=protocol_config,
                                       plugin=entry.plugin, suite=suite.name, data_root=suite.data_root))
    return specs
