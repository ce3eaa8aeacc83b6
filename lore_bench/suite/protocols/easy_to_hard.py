"""The easy-to-hard protocol (LORE section 4.2.1): one result row per stage.

Easy stage: the first N images per class in herding order of the frozen
backbone's features. Hard stage: the images the easy-stage model misclassifies,
the N with the latest herding rank per class; training continues from the
easy-stage weights with a fresh optimizer, no warm-up, for the budget of
:func:`hard_stage_budget` (LORE's recipe by default: 5 epochs at 5e-4 cosine to
1e-4, for every method; LORE's own recipe per dataset). The hard row's
``training_config`` is the budget that stage ran.

Which herding, on which features (docs/lore.md, "Hard samples"):

- recipe ``authors`` with ``difficulty: herding``: LORE's released rule
  (``benchmarks/sampling/released_herding.py``): the hard stage herds on the
  easy-stage model's own features (``Method.adapted_features``; the frozen
  tower's for a feature-caching method; a method with neither falls back to the
  frozen tower, with a logged warning), pads to N with the first N by index
  when too few are wrong, and ranks only 500 per class on CIFAR-10/100.
- ``paper`` / ``lore_bench``: exclusion herding on the frozen backbone's features
  for both stages (one ranking for every method, so the hard sets differ only
  by what each model gets wrong), only misclassified images, no cap.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ...benchmarks.sampling.difficulty import DIFFICULTY_RULES, select_easy, select_hard
from ...benchmarks.sampling.released_herding import select_easy_released, select_hard_released
from ..engine.context import TrialOutput, classification_trial
from ..engine.evaluate import adapted_features, predict
from ..engine.fit import fit, image_features
from ..engine.rows import result_row
from ..spec import canonical_json
from .base import Protocol, ProtocolInputs, register_protocol
from .few_shot import FewShot

log = logging.getLogger(__name__)


@dataclass
class EasyToHardConfig:
    difficulty: str = field(default="herding", metadata={"choices": DIFFICULTY_RULES})
    hard_epochs: int = field(default=5, metadata={"min": 0})
    hard_lr: float = field(default=5e-4, metadata={"min": 0})
    hard_min_lr: float = field(default=1e-4, metadata={"min": 0})
    eval_subset: int = field(default=0, metadata={"min": 0})


#: protocol key -> the hard stage's training field it sets
HARD_KEYS = {"hard_epochs": "epochs", "hard_lr": "lr", "hard_min_lr": "min_lr"}


def hard_stage_budget(spec, method_cls) -> dict:
    """The hard stage's epochs / lr / min_lr: the protocol's defaults (LORE's
    recipe: 5 epochs, 5e-4 cosine to 1e-4), then the method's recipe for this
    dataset (``Method.hard_stage_training``), then the keys the suite sets."""
    defaults = EasyToHardConfig()
    budget = {field: getattr(defaults, key) for key, field in HARD_KEYS.items()}
    recipe = method_cls.hard_stage_training(spec.dataset, spec.shots, spec.recipe, backbone=spec.backbone)
    budget.update({k: recipe[k] for k in budget if k in recipe})
    budget.update({HARD_KEYS[k]: v for k, v in spec.protocol_config.items() if k in HARD_KEYS})
    return budget


def uses_released_rule(recipe: str, difficulty: str) -> bool:
    """LORE's released selection applies to herding under the ``authors`` recipe."""
    return recipe == "authors" and difficulty == "herding"


@register_protocol
class EasyToHard(Protocol):
    """N easy images per class, then N hard ones; a row per stage (LORE Table 3)."""

    name = "easy_to_hard"
    Config = EasyToHardConfig

    expand = classmethod(FewShot.expand.__func__)  # the same grid, under this protocol's name

    @classmethod
    def run(cls, inputs: ProtocolInputs) -> TrialOutput:
        spec = inputs.spec
        cfg = EasyToHardConfig(**spec.protocol_config)
        trial = classification_trial(spec, inputs.backbone, inputs.device, inputs.checkpoint_dir, inputs.on_epoch,
                                     keep_checkpoint=inputs.keep_checkpoint)
        run, train_full = trial.run, trial.train_full
        labels = np.asarray(train_full.labels)
        features = image_features(run, train_full).float().cpu().numpy()

        released = uses_released_rule(spec.recipe, cfg.difficulty)
        if released:
            easy_idx = select_easy_released(features, labels, spec.shots)
        else:
            easy_idx = select_easy(features, labels, spec.shots, cfg.difficulty)
        easy = fit(run, trial.train_subset(easy_idx), "easy", run.training, final_checkpoint=True)  # hard builds on it
        rows = [result_row(run, easy, trial.test, train_full, easy_idx)]
        if easy.diverged:
            return TrialOutput(rows, easy.epochs)

        predictions = predict(run, train_full)
        if released:
            own = adapted_features(run, train_full)
            if own is None:
                log.warning("easy_to_hard (authors): hard samples herded on the frozen backbone's features: "
                            "method '%s' exposes no adapted_features", spec.method)
            ranked_on = features if own is None else own.numpy()
            hard_idx = select_hard_released(ranked_on, labels, predictions, spec.shots, spec.dataset)
        else:
            hard_idx = select_hard(features, labels, predictions, spec.shots, cfg.difficulty)
        confusing = torch.as_tensor(predictions[hard_idx], dtype=torch.long).to(run.device)
        hard_cfg = replace(run.training, warmup_epochs=0, **hard_stage_budget(spec, type(run.method)))
        # LORE's push term: for the hard stage, the easy-stage model's mistakes.
        hard = fit(run, trial.train_subset(hard_idx), "hard", hard_cfg,
                   after_prepare=lambda: run.method.set_confusing_labels(confusing))
        rows.append({**result_row(run, hard, trial.test, train_full, hard_idx),
                     "training_config": canonical_json(hard_cfg.to_dict())})  # the budget this stage ran
        return TrialOutput(rows, easy.epochs + hard.epochs)
