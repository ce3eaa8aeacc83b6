"""Example plugin (docs/plugins.md): a method that trains inside the tower (BitFit).

The image tower's bias terms are trained; everything else stays frozen; classes
are the frozen text embeddings of their prompts. ``trains_backbone = True``
makes the engine build the method on a private copy of the backbone, so
``__init__`` may unfreeze tower parameters: they are then trained, counted in
``trainable_params``, checkpointed and saved, and the cached tower every other
trial reads is never touched. (Without the declaration the engine trains
nothing inside the tower and says so.)

In a suite: ``methods: {tower_biases: {plugin: "tower_biases:TowerBiases"}}``
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from lore_bench.methods import Method


class TowerBiases(Method):
    name = "tower_biases"
    trains_backbone = True  # a private tower copy: unfreezing in it leaks nowhere

    def __init__(self, cfg, backbone, task):
        super().__init__(cfg, backbone, task)
        with torch.no_grad():
            self.register_buffer("classes", backbone.text.encode_texts(task.prompts()), persistent=False)
        for name, p in image_tower_biases(backbone):
            p.requires_grad_(True)

    @classmethod
    def default_training(cls, dataset, shots):
        # Biases take a far higher rate than full fine-tuning (BitFit, Ben Zaken et
        # al., 2022); 0.05 is what docs/plugins.md measured on micro-CLIP (SGD); no
        # warm-up for a few epochs of few-shot data.
        return {"lr": 0.05, "warmup_epochs": 0}

    def forward(self, images):
        features = F.normalize(self.backbone.encode_image(images), dim=-1)
        return self.backbone.logit_scale * features @ self.classes.t().to(features.dtype)


def image_tower_biases(backbone):
    """(name, parameter) of every bias outside the text tower."""
    return [(n, p) for n, p in backbone.named_parameters() if n.endswith("bias") and not n.startswith("text.")]
