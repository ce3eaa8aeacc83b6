"""The easy-to-hard protocol (LORE section 4.2.1): one result row per stage.

Easy stage: the first N images per class in herding order of the frozen
backbone's features. Hard stage: the images the easy-stage model misclassifies,
the N with the latest herding rank per class; training continues from the
easy-stage weights with a fresh optimizer for ``hard_epochs`` (5) at
``hard_lr`` 5e-4 cosine to ``hard_min_lr`` 1e-4 (LORE's recipe, used for every
method), no warm-up.

Deviation: the paper ranks the hard stage "with the easy-stage model's
features"; methods expose logits, not features, so both stages rank on the
frozen backbone's features (identical for every feature-caching method) and
the easy-stage model decides only what is misclassified.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ...benchmarks.sampling.difficulty import DIFFICULTY_RULES, select_easy, select_hard
from ..engine.context import TrialOutput, classification_trial
from ..engine.evaluate import predict
from ..engine.fit import fit, image_features
from ..engine.rows import result_row
from ..grid import classification_grid
from .base import Protocol, ProtocolInputs, register_protocol
from .few_shot import zero_shot_config


@dataclass
class EasyToHardConfig:
    difficulty: str = field(default="herding", metadata={"choices": DIFFICULTY_RULES})
    hard_epochs: int = field(default=5, metadata={"min": 0})
    hard_lr: float = field(default=5e-4, metadata={"min": 0})
    hard_min_lr: float = field(default=1e-4, metadata={"min": 0})
    eval_subset: int = field(default=0, metadata={"min": 0})


@register_protocol
class EasyToHard(Protocol):
    """N easy images per class, then N hard ones; a row per stage (LORE Table 3)."""

    name = "easy_to_hard"
    Config = EasyToHardConfig

    @classmethod
    def expand(cls, suite):
        return list(classification_grid(suite, cls.name, zero_shot_config(suite)))

    @classmethod
    def run(cls, inputs: ProtocolInputs) -> TrialOutput:
        spec = inputs.spec
        cfg = EasyToHardConfig(**spec.protocol_config)
        trial = classification_trial(spec, inputs.backbone, inputs.device, inputs.checkpoint_dir, inputs.on_epoch)
        run, train_full = trial.run, trial.train_full
        labels = np.asarray(train_full.labels)
        features = image_features(run, train_full).float().cpu().numpy()

        easy_idx = select_easy(features, labels, spec.shots, cfg.difficulty)
        easy = fit(run, trial.train_subset(easy_idx), "easy", run.training)
        rows = [result_row(run, easy, trial.test, train_full, easy_idx)]
        if easy.diverged:
            return TrialOutput(rows, easy.epochs)

        predictions = predict(run, train_full)
        hard_idx = select_hard(features, labels, predictions, spec.shots, cfg.difficulty)
        confusing = torch.as_tensor(predictions[hard_idx], dtype=torch.long).to(run.device)
        hard_cfg = replace(run.training, epochs=cfg.hard_epochs, lr=cfg.hard_lr, min_lr=cfg.hard_min_lr,
                           warmup_epochs=0)
        # LORE's push term: for the hard stage, the easy-stage model's mistakes.
        hard = fit(run, trial.train_subset(hard_idx), "hard", hard_cfg,
                   after_prepare=lambda: run.method.set_confusing_labels(confusing))
        rows.append(result_row(run, hard, trial.test, train_full, hard_idx))
        return TrialOutput(rows, easy.epochs + hard.epochs)
