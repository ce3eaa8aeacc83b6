"""Frozen-feature tasks (LORE Table 4): retrieval, correspondence and video
segmentation evaluated on the frozen backbone and, for a method with a White
Box (``Method.prompts_for``, i.e. LORE), on the backbone prompted by the White
Box of a classification trial named by ``protocol.white_box`` ({dataset, shots, seed}).

That classification trial is an ordinary trial of the same suite: the
expansion emits it, :meth:`FrozenFeatures.dependencies` makes the orchestrator
store it (and keep its checkpoint) before any frozen trial that needs it, so it
is trained once and stored with its own row.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch

from ...backbones import resolve_backbone
from ...benchmarks.frozen import FROZEN_DATASETS, run_frozen_trial
from ...methods.base import ConfigError
from ...methods.registry import resolve_method
from ...results.schema import STATUS_OK
from ..engine.checkpoint import checkpoint_root
from ..engine.context import TrialOutput, build_method
from ..engine.rows import base_row
from ..grid import resolved
from ..spec import TrialSpec
from .base import Protocol, ProtocolInputs, register_protocol

WHITE_BOX_KEYS = {"dataset": str, "shots": int, "seed": int}


@dataclass
class FrozenFeaturesConfig:
    #: The classification trial whose White Box prompts the backbone: {dataset, shots (16), seed (1)}.
    white_box: dict | None = None
    #: Task options (preset, layer, normalize, ...; docs/frozen_tasks.md), passed to every frozen trial.
    options: dict = field(default_factory=dict)


class MissingWhiteBoxError(RuntimeError):
    """The White Box trial a frozen trial needs left no checkpoint on this worker."""


@register_protocol
class FrozenFeatures(Protocol):
    """Frozen backbone (optionally White-Box-prompted) on retrieval / correspondence / video segmentation."""

    name = "frozen_features"
    Config = FrozenFeaturesConfig

    @classmethod
    def dataset_names(cls) -> list[str]:
        return sorted(FROZEN_DATASETS)

    @classmethod
    def check(cls, cfg: FrozenFeaturesConfig) -> None:
        from ...benchmarks import DATASETS
        from ...plugins import nearest

        wb = cfg.white_box
        if wb is None:
            return
        for key, value in wb.items():
            if key not in WHITE_BOX_KEYS:
                raise ConfigError(f"unknown key '{key}'; white_box takes {', '.join(WHITE_BOX_KEYS)}",
                                  field=f"white_box.{key}")
            if not isinstance(value, WHITE_BOX_KEYS[key]) or isinstance(value, bool):
                raise ConfigError(f"expected {WHITE_BOX_KEYS[key].__name__}, got {value!r}", field=f"white_box.{key}")
        for key, low in (("shots", 1), ("seed", 0)):
            if key in wb and wb[key] < low:
                raise ConfigError(f"expected an integer >= {low}, got {wb[key]!r}", field=f"white_box.{key}")
        if "dataset" not in wb:
            raise ConfigError("name the classification dataset the White Box is trained on", field="white_box")
        if wb["dataset"] not in DATASETS.names():
            near = nearest(wb["dataset"], DATASETS.names())
            raise ConfigError(f"unknown dataset '{wb['dataset']}'" + (f"; did you mean '{near}'?" if near else ""),
                              field="white_box.dataset")

    @classmethod
    def expand(cls, suite) -> list[TrialSpec]:
        cfg = FrozenFeaturesConfig(**suite.protocol_config)
        specs: list[TrialSpec] = []
        for backbone_ref in suite.backbones:
            backbone = resolve_backbone(backbone_ref)
            for entry in suite.methods:
                method_cls = resolve_method(entry.name, entry.plugin)
                protocol_config: dict[str, Any] = dict(cfg.options)
                method_config: dict = {}
                if method_cls.provides_white_box():
                    source = _white_box_source(suite, cfg, entry, method_cls, backbone)
                    specs.append(source)
                    method_config = source.method_config
                    protocol_config["white_box_spec"] = source.identity()
                for dataset in suite.datasets:
                    specs.append(TrialSpec(method=entry.name, dataset=dataset, backbone=backbone, shots=0, seed=0,
                                           protocol=cls.name, task=FROZEN_DATASETS[dataset],
                                           recipe=entry.recipe or suite.recipe,
                                           method_config=method_config, training={},
                                           protocol_config=protocol_config, plugin=entry.plugin, suite=suite.name,
                                           data_root=suite.data_root))
        return specs

    @classmethod
    def dependencies(cls, spec: TrialSpec) -> list[TrialSpec]:
        source = spec.protocol_config.get("white_box_spec")
        if not source:
            return []
        return [replace(TrialSpec.from_json(source), suite=spec.suite, data_root=spec.data_root)]

    @classmethod
    def run(cls, inputs: ProtocolInputs) -> TrialOutput:
        spec = inputs.spec
        sources = cls.dependencies(spec)
        white_box = load_white_box(sources[0], inputs.backbone, inputs.device, inputs.checkpoint_dir) if sources else None
        # A White Box that trained inside its tower (trains_backbone) carries its
        # own copy of it: its prompts only make sense on that tower, not the shared one.
        tower = white_box.backbone if white_box is not None and type(white_box).trains_backbone else inputs.backbone
        with torch.no_grad():
            fragments = run_frozen_trial(spec, tower, inputs.device, white_box=white_box)
        base = base_row(spec, white_box, None)
        return TrialOutput([{**base, "stage": "main", "status": STATUS_OK, **f} for f in fragments])


def _white_box_source(suite, cfg: FrozenFeaturesConfig, entry, method_cls, backbone) -> TrialSpec:
    wb = cfg.white_box
    if not wb:
        raise ConfigError(f"method '{entry.name}' evaluates a trained White Box: say which classification trial "
                          "trains it, e.g. white_box: {dataset: imagenet, shots: 16, seed: 1}", field="white_box")
    shots, seed = int(wb.get("shots", 16)), int(wb.get("seed", 1))
    return TrialSpec(method=entry.name, dataset=wb["dataset"], backbone=backbone, shots=shots, seed=seed,
                     plugin=entry.plugin, suite=suite.name, data_root=suite.data_root,
                     **resolved(method_cls, wb["dataset"], shots, backbone, "few_shot", entry.recipe or suite.recipe,
                                entry.config, suite.training, entry.training))


def load_white_box(source: TrialSpec, backbone, device, checkpoint_dir):
    """The method of ``source`` with the weights of its last epoch."""
    state = checkpoint_root(checkpoint_dir).trial(source.trial_id).load("main") if checkpoint_dir else None
    if state is None or state["epoch"] + 1 < int(source.training.get("epochs", 0)):
        raise MissingWhiteBoxError(
            f"the White Box trial {source.trial_id} ({source.short()}) has no finished checkpoint in "
            f"{checkpoint_dir}; the orchestrator runs it first — on a cluster, give the workers a shared "
            "checkpoint location (a path every node mounts, or a URI such as s3://bucket/prefix)")
    method = build_method(source, backbone, device)
    method.load_trainable_state_dict(state["method"])
    return method.eval()
