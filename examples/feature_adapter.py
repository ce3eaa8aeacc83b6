"""Example plugin (docs/plugins.md): a method that adapts from frozen features.

A residual bottleneck MLP on the frozen image feature, classified against the
class-name text embeddings. Because it never touches the image tower it sets
``caches_image_features``: the engine may feed it cached features instead of
images (no augmentation), so a trial costs one pass of the tower.

In a suite: ``methods: {feature_adapter: {plugin: "feature_adapter:FeatureAdapter"}}``
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from lore_bench.methods import Method


class FeatureAdapter(Method):
    name = "feature_adapter"
    caches_image_features = True  # frozen, untouched tower: cached features are exact

    @dataclass
    class Config:
        reduction: int = 4  # hidden width = feature dim // reduction
        ratio: float = 0.2  # share of the adapted feature in the mix

    def __init__(self, cfg, backbone, task):
        super().__init__(cfg, backbone, task)
        dim = backbone.info.feature_dim
        self.adapter = nn.Sequential(nn.Linear(dim, dim // cfg.reduction), nn.ReLU(),
                                     nn.Linear(dim // cfg.reduction, dim))
        with torch.no_grad():  # the frozen text side: encoded once, saved with nothing
            self.register_buffer("classes", backbone.text.encode_texts(task.prompts()), persistent=False)

    def logits_from_features(self, features):
        f = features.to(self.classes.dtype)
        mixed = self.cfg.ratio * self.adapter(f) + (1 - self.cfg.ratio) * f
        return self.backbone.logit_scale * F.normalize(mixed, dim=-1) @ self.classes.t()
