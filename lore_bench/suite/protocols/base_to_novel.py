"""Base-to-novel generalization (CoCoOp, Zhou et al., CVPR 2022; MaPLe Table 1).

The classes split into halves by the released rule (``benchmarks.splits.base_novel``:
sorted label ids, the first ceil(n/2) base, the rest novel). The method is built
for the base classes and trained on their K shots (K = 16 in the papers); it is
scored on the base classes' test images with a base-class classifier (row
``eval_split: base``), then re-pointed at the novel class names
(``Method.retarget``) and scored on the novel classes' test images (``novel``).
The report derives the harmonic mean HM = 2 B N / (B + N).

A method whose classifier is a closed set of learned class weights cannot score
novel classes (``Method.scores_unseen_classes``): the expansion skips it and says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...benchmarks.sampling.few_shot import sample_few_shot
from ...benchmarks.splits.base_novel import base_novel_labels, restrict
from ..engine.context import TrialOutput, classification_trial, task_info
from ..engine.fit import fit
from ..engine.rows import result_row
from . import _generalization as gen
from .base import Protocol, ProtocolInputs, register_protocol

WHY_CLOSED_SET = "a closed set of learned class weights cannot score the novel classes"


@dataclass
class BaseToNovelConfig:
    #: Evaluate on a fixed class-balanced subset of about N test images (CPU demos); 0 = the full test split.
    eval_subset: int = field(default=0, metadata={"min": 0})


@register_protocol
class BaseToNovel(Protocol):
    """Train on the base half of the classes; accuracy on base and novel classes (CoCoOp, MaPLe Table 1)."""

    name = "base_to_novel"
    Config = BaseToNovelConfig

    @classmethod
    def expand(cls, suite):
        return list(gen.grid(suite, cls.name, gen.scores_unseen))

    @classmethod
    def notes(cls, suite) -> list[str]:
        return gen.skip_note(cls.name, gen.skipped(suite, gen.scores_unseen), WHY_CLOSED_SET)

    @classmethod
    def run(cls, inputs: ProtocolInputs) -> TrialOutput:
        from ...benchmarks import get_dataset
        from ..engine.context import load_splits

        spec = inputs.spec
        dataset = get_dataset(spec.dataset, spec.data_root)
        train_all, _ = load_splits(spec.dataset, spec.data_root)
        halves = base_novel_labels(train_all.labels)
        trial = classification_trial(spec, inputs.backbone, inputs.device, inputs.checkpoint_dir, inputs.on_epoch,
                                     task=task_info(dataset, spec.shots, halves["base"]),
                                     keep_checkpoint=inputs.keep_checkpoint)
        run = trial.run
        # The release samples K shots of every class, then keeps the base classes' ones.
        sampled = sample_few_shot(trial.train_full, spec.dataset, "train", spec.shots, spec.seed)
        _, kept = restrict(trial.train_full, sampled, halves["base"])
        train = relabelled(trial.train_subset(kept), halves["base"])
        stage = fit(run, train, "main", run.training)
        everything = np.arange(len(trial.test))
        base_test, _ = restrict(trial.test, everything, halves["base"])
        rows = [result_row(run, stage, base_test, trial.train_full, kept, split_name="base")]
        if stage.diverged:
            return TrialOutput(rows, stage.epochs)
        run.method.retarget(task_info(dataset, spec.shots, halves["novel"]))
        novel_test, _ = restrict(trial.test, everything, halves["novel"])
        rows.append(result_row(run, stage, novel_test, trial.train_full, kept, split_name="novel"))
        return TrialOutput(rows, stage.epochs)


def relabelled(split, classes):
    """``split`` (images of ``classes`` only) with labels as positions in ``classes``."""
    part, _ = restrict(split, np.arange(len(split)), classes)
    return part
