"""The few-shot protocol: K images per class (the deterministic sample of the
trial's seed), one training stage, evaluation on the test split."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...benchmarks.sampling.few_shot import sample_few_shot
from ..engine.context import TrialOutput, classification_trial
from ..engine.fit import fit
from ..engine.rows import result_row
from ..grid import classification_grid
from .base import Protocol, ProtocolInputs, register_protocol


@dataclass
class FewShotConfig:
    #: Evaluate on a fixed class-balanced subset of about N test images (CPU
    #: demos); 0 = the full test split, as the paper does.
    eval_subset: int = field(default=0, metadata={"min": 0})


@register_protocol
class FewShot(Protocol):
    """K shots per class x seeds; one stage; test-split accuracy (LORE Tables 1, 2, 5)."""

    name = "few_shot"
    Config = FewShotConfig

    @classmethod
    def expand(cls, suite):
        return list(classification_grid(suite, cls.name, zero_shot_config(suite)))

    @classmethod
    def run(cls, inputs: ProtocolInputs) -> TrialOutput:
        spec = inputs.spec
        trial = classification_trial(spec, inputs.backbone, inputs.device, inputs.checkpoint_dir, inputs.on_epoch,
                                     keep_checkpoint=inputs.keep_checkpoint)
        indices = sample_few_shot(trial.train_full, spec.dataset, "train", spec.shots, spec.seed)
        stage = fit(trial.run, trial.train_subset(indices), "main", trial.run.training)
        return TrialOutput([result_row(trial.run, stage, trial.test, trial.train_full, indices)], stage.epochs)


def zero_shot_config(suite) -> dict:
    """The suite's protocol keys that a zero-shot trial of it shares (its
    evaluation subset), so every method of a suite is scored on the same images."""
    own = set(FewShotConfig.__dataclass_fields__)  # zero_shot's Config
    return {k: v for k, v in suite.protocol_config.items() if k in own}
