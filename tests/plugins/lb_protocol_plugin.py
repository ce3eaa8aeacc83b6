"""A third-party protocol, as a user would write it outside lore-bench: train on
every training image (no few-shot sampling), one stage, test-split accuracy."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from lore_bench.suite.engine.context import TrialOutput, classification_trial
from lore_bench.suite.engine.fit import fit
from lore_bench.suite.engine.rows import result_row
from lore_bench.suite.grid import classification_grid
from lore_bench.suite.protocols import Protocol


@dataclass
class AllImagesConfig:
    eval_subset: int = field(default=0, metadata={"min": 0})


class AllImages(Protocol):
    """Every training image, one stage (shots are ignored)."""

    name = "all_images"
    Config = AllImagesConfig

    @classmethod
    def expand(cls, suite):
        # shots mean nothing here: one trial per (method, dataset, seed)
        return [replace(s, shots=0) for s in classification_grid(suite, cls.name, {})]

    @classmethod
    def run(cls, inputs):
        trial = classification_trial(inputs.spec, inputs.backbone, inputs.device, inputs.checkpoint_dir,
                                     inputs.on_epoch)
        indices = np.arange(len(trial.train_full))
        stage = fit(trial.run, trial.train_subset(indices), "main", trial.run.training)
        return TrialOutput([result_row(trial.run, stage, trial.test, trial.train_full, indices)], stage.epochs)
