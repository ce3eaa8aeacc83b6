"""CLIP-Adapter (Gao et al., IJCV 2023), visual adapter: a bottleneck MLP
Linear(E, E/4)-ReLU-Linear(E/4, E)-ReLU, no biases, on the frozen image feature,
blended residually f = ratio * adapter(f) + (1 - ratio) * f, classified against
the frozen text embeddings of the dataset's hand-crafted template.

Widths come from the backbone (E = 512 on ViT-B/16); the released code
hard-codes 1024, the ResNet-50 width. The training recipe is CoOp's (the code
is a trainer in CoOp's code base, run with CoOp's configs).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from ..backbones.base import Backbone
from ._prompting import replace_buffer, coop_epochs, cosine_logits, dassl_training, template_classifier
from .recipes import DEFAULT_RECIPE, check_recipe
from .base import Method, TaskInfo
from .registry import register_method


@dataclass
class ClipAdapterConfig:
    reduction: int = 4
    ratio: float = 0.2  # alpha: weight of the adapted feature


@register_method
class ClipAdapter(Method):
    name = "clip_adapter"
    Config = ClipAdapterConfig
    caches_image_features = True
    scores_unseen_classes = True  # the adapter is class-free; the classifier is text embeddings

    def __init__(self, cfg: ClipAdapterConfig, backbone: Backbone, task: TaskInfo):
        super().__init__(cfg, backbone, task)
        dim = backbone.info.feature_dim
        hidden = dim // cfg.reduction
        self.adapter = nn.Sequential(
            nn.Linear(dim, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, dim, bias=False),
            nn.ReLU(inplace=True),
        )
        classifier = template_classifier(backbone.text, task.template, task.classnames)
        self.register_buffer("classifier", classifier, persistent=False)

    @classmethod
    def default_config(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, **context) -> dict[str, Any]:
        # gaopengcuhk/CLIP-Adapter clip_adapter.py: Adapter(c_in, reduction=4), ratio = 0.2.
        check_recipe(recipe)
        return {"reduction": 4, "ratio": 0.2}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """The tuned protocol's space: the engine's lr / weight decay / epochs and
        ``ratio`` (CLIP-Adapter paper (Gao et al., 2021) Sec. 4.3 searches the residual ratio over these values)."""
        from .search_space import Choice

        return {**super().search_space(), "ratio": Choice((0.2, 0.4, 0.6, 0.8))}

    @classmethod
    def default_training(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, **context) -> dict[str, Any]:
        # The release is a trainer for CoOp's code base, run with CoOp's configs (its README).
        return dassl_training(cls.name, recipe, coop_epochs(dataset, shots), lr=0.002, batch_size=32)

    def retarget(self, task: TaskInfo) -> None:
        self._set_task(task)
        replace_buffer(self, "classifier", template_classifier(self.backbone.text, task.template, task.classnames))

    def logits_from_features(self, features: Tensor) -> Tensor:
        f = features.to(self.adapter[0].weight.dtype)  # raw (unnormalised), as published
        f = self.cfg.ratio * self.adapter(f) + (1 - self.cfg.ratio) * f
        return cosine_logits(f, self.classifier, self.backbone.logit_scale)
