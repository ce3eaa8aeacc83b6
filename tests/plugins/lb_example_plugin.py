"""A third-party method, as a user would write it outside lore-bench: a cosine
classifier on frozen CLIP image features, initialised from the class-name text
embeddings. Used by the tests to prove plugins reach Ray workers."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lore_bench.methods import Method


class TextInitHead(Method):
    """Cosine head on frozen image features, initialised from text embeddings."""

    name = "text_init_head"
    caches_image_features = True

    @dataclass
    class Config:
        scale: float = 30.0

    def __init__(self, cfg, backbone, task):
        super().__init__(cfg, backbone, task)
        with torch.no_grad():
            init = backbone.text.encode_texts(task.prompts())
        self.weight = nn.Parameter(init.clone())

    def logits_from_features(self, features):
        f = nn.functional.normalize(features.float(), dim=-1)
        w = nn.functional.normalize(self.weight, dim=-1)
        return self.cfg.scale * f @ w.t()
