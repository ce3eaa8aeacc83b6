"""VPT (Jia et al., ECCV 2022): learned tokens inserted after CLS in the image
tower; shallow (input only) or deep (a fresh set before every layer).

On a CLIP backbone (MaPLe's "VPT" baseline config: deep, 8 tokens) the
classifier is the frozen text embeddings of "a photo of a {}." for every
dataset, as MaPLe's release classifies (``template: ""`` uses the dataset's
hand-crafted template instead), and prompts start N(0, 0.02). On a timm ViT (``family == 'vit'``) a
linear head is trained with the prompts, which start as in the VPT paper,
uniform(+-sqrt(6 / (3 * patch^2 + D))).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..backbones.base import Backbone
from ._prompting import cosine_logits, dassl_training, replace_buffer, template_classifier
from .recipes import DEFAULT_RECIPE, check_recipe
from .recipes.dassl import VPT_CLIP_TEMPLATE
from .base import Method, TaskInfo
from .registry import register_method


@dataclass
class VPTConfig:
    num_tokens: int = 8
    deep: bool = True
    dropout: float = 0.0  # on the prompt tokens (VPT's PROMPT.DROPOUT)
    # CLIP backbones: the classifier's template ("" = the dataset's hand-crafted one).
    template: str = VPT_CLIP_TEMPLATE


@register_method
class VPT(Method):
    name = "vpt"
    Config = VPTConfig
    # The text tower is needed on CLIP backbones only; checked in __init__.
    requires_text = False
    scores_unseen_classes = True  # on CLIP (text classifier); see can_score_unseen_classes

    def __init__(self, cfg: VPTConfig, backbone: Backbone, task: TaskInfo):
        super().__init__(cfg, backbone, task)
        info = backbone.info
        layers = info.num_layers if cfg.deep else 1
        prompts = torch.empty(layers, cfg.num_tokens, info.width)
        self.head: nn.Linear | None = None
        if backbone.family == "clip":
            backbone.require_text(self.name)
            nn.init.normal_(prompts, std=0.02)
            classifier = template_classifier(backbone.text, cfg.template or task.template, task.classnames)
            self.register_buffer("classifier", classifier, persistent=False)
        else:
            bound = math.sqrt(6.0 / (3 * info.patch_size**2 + info.width))
            nn.init.uniform_(prompts, -bound, bound)
            self.head = nn.Linear(info.feature_dim, task.num_classes)
        self.prompts = nn.Parameter(prompts)
        self.prompt_dropout = nn.Dropout(cfg.dropout)

    @classmethod
    def default_config(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, **context) -> dict[str, Any]:
        # multimodal-prompt-learning configs/trainers/VPT/vit_b16_c2_ep5_batch4_4.yaml: N_CTX_VISION 8,
        # PROMPT_DEPTH_VISION 12 (deep); trainers/vpt.py: no prompt dropout, "a photo of a {}." classifier.
        check_recipe(recipe)
        return {"num_tokens": 8, "deep": True, "dropout": 0.0, "template": VPT_CLIP_TEMPLATE}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """The tuned protocol's space: the engine's lr / weight decay / epochs and
        ``num_tokens`` (VPT paper (Jia et al., ECCV 2022) Sec. 4 searches the prompt length per dataset)."""
        from .search_space import Choice

        return {**super().search_space(), "num_tokens": Choice((4, 8, 16))}

    @classmethod
    def default_training(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, **context) -> dict[str, Any]:
        # The same config: lr 0.0025, batch 4, 5 epochs. The VPT paper's vanilla-ViT recipe is a
        # per-dataset grid (tokens, lr, wd; 100 epochs, 10 warm-up): set it per suite.
        return dassl_training(cls.name, recipe, epochs=5, lr=0.0025, batch_size=4)

    @classmethod
    def can_score_unseen_classes(cls, backbone: dict) -> bool:
        # A timm ViT gets a learned linear head: a closed set of classes.
        return backbone.get("type") != "timm"

    def retarget(self, task: TaskInfo) -> None:
        if self.head is not None:
            super().retarget(task)  # raises: the linear head of a timm ViT
        self._set_task(task)
        replace_buffer(self, "classifier", template_classifier(self.backbone.text, self.cfg.template or task.template,
                                                               task.classnames))

    def forward(self, images: Tensor) -> Tensor:
        prompts = [self.prompt_dropout(p) for p in self.prompts.unbind(0)]
        features = self.backbone.forward_prompted(images, prompts)
        if self.head is not None:
            return self.head(features)
        return cosine_logits(features, self.classifier, self.backbone.logit_scale)
