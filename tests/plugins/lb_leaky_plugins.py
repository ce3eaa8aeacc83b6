"""Methods that touch the shared backbone without declaring ``trains_backbone``:
what the engine must catch (issue 12's cross-trial leak, issue 15's silent
zero-parameter run). Not examples to follow: see lb_bitfit_plugin."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from lb_bitfit_plugin import BitFit
from lore_bench.methods import Method
from lore_bench.methods._prompting import cosine_logits


class UndeclaredBitFit(BitFit):
    """BitFit that gets its biases trained by overriding trainable_parameters
    instead of declaring trains_backbone: it trains the cached tower itself."""

    name = "undeclared_bitfit"
    trains_backbone = False

    def trainable_parameters(self):
        return (p for p in self.parameters() if p.requires_grad)


class NaiveBitFit(BitFit):
    """BitFit without the declaration: the engine trains nothing of it."""

    name = "naive_bitfit"
    trains_backbone = False


class NoParameters(Method):
    """Uses training data, has nothing to train and no prepare()."""

    name = "no_parameters"
    caches_image_features = True

    def __init__(self, cfg, backbone, task):
        super().__init__(cfg, backbone, task)
        self.register_buffer("class_features", backbone.text.encode_texts(task.prompts()))

    def logits_from_features(self, features):
        return cosine_logits(features, self.class_features, self.backbone.logit_scale)


class NudgesTower(NoParameters):
    """Zero-shot on cached features, but it shifts the tower's biases first: the
    features it computes must never reach the feature cache."""

    name = "nudges_tower"
    uses_training_data = False

    def __init__(self, cfg, backbone, task):
        super().__init__(cfg, backbone, task)
        with torch.no_grad():
            for name, p in backbone.named_parameters():
                if name.endswith("bias") and not name.startswith("text."):
                    p.add_(0.05)


class MemoryHog(Method):
    """Holds ``mb`` megabytes for a moment in prepare() (peak-memory tests)."""

    name = "memory_hog"
    caches_image_features = True

    @dataclass
    class Config:
        mb: int = 100

    def __init__(self, cfg, backbone, task):
        super().__init__(cfg, backbone, task)
        self.head = torch.nn.Linear(backbone.info.feature_dim, task.num_classes)

    @classmethod
    def default_training(cls, dataset, shots):
        return {"epochs": 0}

    def prepare(self, context):
        block = torch.ones(self.cfg.mb * 2**20 // 4)  # written, so resident
        del block

    def logits_from_features(self, features):
        return self.head(features)
