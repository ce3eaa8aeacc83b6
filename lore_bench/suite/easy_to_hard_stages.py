"""The easy-to-hard protocol (LORE section 4.2.1, specs/protocols.md) on top of
the engine's fit / evaluate: one result row per stage.

Easy stage: the first N images per class in herding order of the frozen
backbone's features. Hard stage: the images the easy-stage model misclassifies,
the N with the latest herding rank per class; training continues from the
easy-stage weights with a fresh optimizer for ``hard_epochs`` (5) at
``hard_lr`` 5e-4 cosine to ``hard_min_lr`` 1e-4 (LORE's recipe, used for every
method), no warm-up.

Deviation: the spec ranks the hard stage "with the easy-stage model's
features"; methods expose logits, not features, so both stages rank on the
frozen backbone's features (identical for every feature-caching method) and
the easy-stage model decides only what is misclassified.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..benchmarks.easy_to_hard import select_easy, select_hard
from ..benchmarks.image_cache import cached_split
from .engine import TrialOutput, TrialRun, fit, image_features, predict, result_row


def run_easy_to_hard(run: TrialRun, train_full, test, embedded: bool) -> TrialOutput:
    spec, cfg = run.spec, run.spec.protocol_config
    rule = cfg.get("difficulty", "herding")
    n = spec.shots
    labels = np.asarray(train_full.labels)
    features = image_features(run, train_full).float().cpu().numpy()

    def subset(indices):
        part = train_full.subset(indices)
        return part if embedded else cached_split(part, spec.dataset, "train", run.method.backbone.info.image_size)

    easy_idx = select_easy(features, labels, n, rule)
    easy = fit(run, subset(easy_idx), "easy", run.training)
    rows = [result_row(run, easy, test, train_full, easy_idx)]
    if easy.diverged:
        return TrialOutput(rows, easy.epochs)

    predictions = predict(run, train_full)
    hard_idx = select_hard(features, labels, predictions, n, rule)
    confusing = torch.as_tensor(predictions[hard_idx], dtype=torch.long)

    def use_easy_model_confusions() -> None:
        # LORE's push term: for the hard stage, the easy-stage model's mistakes.
        if hasattr(run.method, "set_confusing_labels"):
            run.method.set_confusing_labels(confusing.to(run.device))

    hard_cfg = replace(run.training, epochs=int(cfg.get("hard_epochs", 5)), lr=float(cfg.get("hard_lr", 5e-4)),
                       min_lr=float(cfg.get("hard_min_lr", 1e-4)), warmup_epochs=0)
    hard = fit(run, subset(hard_idx), "hard", hard_cfg, after_prepare=use_easy_model_confusions)
    rows.append(result_row(run, hard, test, train_full, hard_idx))
    return TrialOutput(rows, easy.epochs + hard.epochs)

