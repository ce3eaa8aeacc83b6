"""CoCoOp (Zhou et al., CVPR 2022): CoOp's context plus an image-conditional
bias. A meta-net Linear(E, E/16)-ReLU-Linear(E/16, W) maps the normalised image
feature to a bias added to every context vector, so each image gets its own
prompts (and its own class embeddings). The image tower stays untouched.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from ..backbones.base import Backbone
from ._prompting import ClassPrompts, cosine_logits, dassl_training, word_context
from .recipes import DEFAULT_RECIPE, check_recipe
from .base import Method, TaskInfo
from .registry import register_method


@dataclass
class CoCoOpConfig:
    n_ctx: int = 4
    ctx_init: str = "a photo of a"
    meta_reduction: int = 16  # meta-net hidden width = image feature dim // 16


@register_method
class CoCoOp(Method):
    name = "cocoop"
    runs_pure_fp16 = True  # the release trains in pure fp16 (recipes/dassl.py RELEASED_PRECISION)
    Config = CoCoOpConfig
    caches_image_features = True
    scores_unseen_classes = True  # context + meta-net bias go before any class name

    def __init__(self, cfg: CoCoOpConfig, backbone: Backbone, task: TaskInfo):
        super().__init__(cfg, backbone, task)
        text = backbone.text
        prefix, init = word_context(text, cfg.ctx_init, cfg.n_ctx)
        self.ctx = nn.Parameter(init)
        self.prompts = ClassPrompts(text, task.classnames, prefix, cfg.n_ctx)
        dim = backbone.info.feature_dim
        hidden = dim // cfg.meta_reduction
        self.meta_net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, text.width))

    @classmethod
    def default_config(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, **context) -> dict[str, Any]:
        # CoOp configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml: N_CTX 4, CTX_INIT "a photo of a";
        # trainers/cocoop.py: meta-net vis_dim -> vis_dim // 16 -> ctx_dim.
        check_recipe(recipe)
        return {"n_ctx": 4, "ctx_init": "a photo of a", "meta_reduction": 16}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """The tuned protocol's space: the engine's lr / weight decay / epochs and
        ``n_ctx`` (CoCoOp uses 4 context tokens (configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml); 2 and 8 bracket it)."""
        from .search_space import Choice

        return {**super().search_space(), "n_ctx": Choice((2, 4, 8))}

    @classmethod
    def default_training(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, **context) -> dict[str, Any]:
        # The same config: lr 0.002, batch 1, 10 epochs (released for base-to-new at 16 shots).
        return dassl_training(cls.name, recipe, epochs=10, lr=0.002, batch_size=1)

    def retarget(self, task: TaskInfo) -> None:
        self._set_task(task)
        self.prompts = self.prompts.for_classes(task.classnames)

    def logits_from_features(self, features: Tensor) -> Tensor:
        features = nn.functional.normalize(features.to(self.ctx.dtype), dim=-1)
        bias = self.meta_net(features)  # [B, W]
        ctx = self.ctx.unsqueeze(0) + bias.unsqueeze(1)  # [B, n, W]
        return cosine_logits(features, self.prompts.encode_per_sample(ctx), self.backbone.logit_scale)
