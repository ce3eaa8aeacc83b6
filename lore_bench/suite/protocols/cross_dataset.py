"""Cross-dataset transfer (CoOp / CoCoOp / MaPLe Table 2): train on a source
dataset (ImageNet, K = 16 shots of every class), then score the trained model,
unchanged, on the test sets of other datasets.

One trial trains once and evaluates the source test split (row ``eval_split:
test``) and every target (rows ``eval_split: <target>/test``). For a target whose
classes are the source's (``benchmarks.class_maps``: ImageNet-V2/-Sketch/-A/-R,
MNIST for sklearn digits) the model's classifier is scored over those classes
(any method); for a target with other classes the method is re-pointed at the
target's class names and template (``Method.retarget``), which only a method
with ``scores_unseen_classes`` can do — the expansion skips the others and says so.

Targets: the ten of CoOp's cross-dataset table by default (docs/generalization.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...benchmarks.class_maps import shares_classes, source_columns
from ...benchmarks.sampling.few_shot import sample_few_shot
from ...methods.base import ConfigError
from ..engine.context import TrialOutput, classification_trial, eval_subset, task_info
from ..engine.fit import fit
from ..engine.rows import result_row
from . import _generalization as gen
from .base import Protocol, ProtocolInputs, register_protocol

#: CoOp's cross-dataset targets (CoCoOp Table 2, MaPLe Table 2), in that order.
COOP_TARGETS = ["caltech101", "oxford_pets", "stanford_cars", "flowers102", "food101", "fgvc_aircraft",
                "sun397", "dtd", "eurosat", "ucf101"]
WHY_NEW_CLASSES = "a closed set of learned class weights cannot score a target's other classes"


@dataclass
class CrossDatasetConfig:
    #: The datasets the trained model is scored on (their test splits).
    targets: list = field(default_factory=lambda: list(COOP_TARGETS))
    #: Evaluate on a fixed class-balanced subset of about N test images of each set (CPU demos); 0 = all.
    eval_subset: int = field(default=0, metadata={"min": 0})


@register_protocol
class CrossDataset(Protocol):
    """Train on a source dataset; score the same model on other datasets' test sets (CoCoOp Table 2)."""

    name = "cross_dataset"
    Config = CrossDatasetConfig

    @classmethod
    def check(cls, cfg) -> None:
        from ...benchmarks import DATASETS
        from ...plugins import nearest

        if not cfg.targets:
            raise ConfigError("name at least one target dataset", field="targets")
        for i, target in enumerate(cfg.targets):
            if not isinstance(target, str) or target not in DATASETS.names():
                near = nearest(str(target), DATASETS.names())
                raise ConfigError(f"unknown dataset '{target}'" + (f"; did you mean '{near}'?" if near else ""),
                                  field=f"targets.{i}")

    @classmethod
    def targets(cls, suite) -> list[str]:
        return list(suite.protocol_config.get("targets", cls.Config().targets))

    @classmethod
    def applicable(cls, suite):
        """Every method where every target shares the source's classes; else text classifiers only."""
        targets = cls.targets(suite)
        same = all(shares_classes(source, t) for source in suite.datasets for t in targets)
        return (lambda method_cls, backbone: True) if same else gen.scores_unseen

    @classmethod
    def expand(cls, suite):
        return list(gen.grid(suite, cls.name, cls.applicable(suite)))

    @classmethod
    def notes(cls, suite) -> list[str]:
        return gen.skip_note(cls.name, gen.skipped(suite, cls.applicable(suite)), WHY_NEW_CLASSES)

    @classmethod
    def run(cls, inputs: ProtocolInputs) -> TrialOutput:
        from ...benchmarks import get_dataset
        from ...benchmarks.image_cache import cached_split
        from ..engine.context import load_test_split

        spec = inputs.spec
        trial = classification_trial(spec, inputs.backbone, inputs.device, inputs.checkpoint_dir, inputs.on_epoch,
                                     keep_checkpoint=inputs.keep_checkpoint)
        run = trial.run
        indices = sample_few_shot(trial.train_full, spec.dataset, "train", spec.shots, spec.seed)
        stage = fit(run, trial.train_subset(indices), "main", run.training)
        rows = [result_row(run, stage, trial.test, trial.train_full, indices)]
        if stage.diverged:
            return TrialOutput(rows, stage.epochs)
        size, retargeted = run.method.backbone.info.image_size, False
        for name in spec.protocol_config.get("targets", cls.Config().targets):
            target = get_dataset(name, spec.data_root)
            test = load_test_split(name, spec.data_root)
            test = eval_subset(test, spec, dataset=name)
            if not target.embedded:
                test = cached_split(test, name, "test", size)
            columns = source_columns(trial.dataset, target)
            if columns is None:
                run.method.retarget(task_info(target, spec.shots))
                retargeted = True
            elif retargeted:  # back to the source's classes, which the columns index
                run.method.retarget(task_info(trial.dataset, spec.shots))
                retargeted = False
            rows.append(result_row(run, stage, test, trial.train_full, indices, split_name=f"{name}/test",
                                   columns=columns))
        return TrialOutput(rows, stage.epochs)
