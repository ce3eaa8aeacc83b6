"""Example plugin (docs/plugins.md): a method that prompts the image tower.

Learned tokens enter the frozen tower after the CLS token, before the first
block (shallow visual prompts), through the backbone's token hook
``forward_prompted(images, [prompts])``; the text side is the frozen zero-shot
classifier. It reads images, not cached features (the prompts change the
tower's output), so it does not set ``caches_image_features``.

In a suite: ``methods: {image_prompts: {plugin: "image_prompts:ImagePrompts"}}``
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from lore_bench.methods import Method


class ImagePrompts(Method):
    name = "image_prompts"

    @dataclass
    class Config:
        num_tokens: int = 4

    def __init__(self, cfg, backbone, task):
        super().__init__(cfg, backbone, task)
        # width: the tower's token width (info.width), not its output width
        self.prompts = nn.Parameter(torch.randn(cfg.num_tokens, backbone.info.width) * 0.02)
        with torch.no_grad():
            self.register_buffer("classes", backbone.text.encode_texts(task.prompts()), persistent=False)

    def forward(self, images):
        # prompts[0]: inserted once after the prefix tokens; no deeper layers given
        features = self.backbone.forward_prompted(images, [self.prompts])
        return self.backbone.logit_scale * F.normalize(features, dim=-1) @ self.classes.t().to(features.dtype)
