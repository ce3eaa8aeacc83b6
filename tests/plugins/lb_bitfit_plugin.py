"""A third-party method that trains inside the backbone, as a user would write it:
BitFit (train the image tower's biases) with the frozen text classifier."""
from __future__ import annotations

from torch import nn

from lore_bench.methods import Method


class BitFit(Method):
    """Image-tower biases trained; classes are the text embeddings of their prompts."""

    name = "bitfit_example"
    trains_backbone = True  # the engine gives it a private copy of the backbone

    def __init__(self, cfg, backbone, task):
        super().__init__(cfg, backbone, task)
        self.register_buffer("class_features", backbone.text.encode_texts(task.prompts()))
        for name, p in backbone.named_parameters():
            if name.endswith("bias") and not name.startswith("text."):
                p.requires_grad_(True)

    def forward(self, images):
        features = nn.functional.normalize(self.backbone.encode_image(images), dim=-1)
        return self.backbone.logit_scale * features @ self.class_features.t()


def image_tower_biases(backbone) -> int:
    """How many numbers BitFit trains on ``backbone``."""
    return sum(p.numel() for n, p in backbone.named_parameters() if n.endswith("bias") and not n.startswith("text."))

