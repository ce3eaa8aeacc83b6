"""MaPLe (Khattak et al., CVPR 2023): multi-modal prompts coupled text -> vision.

Text: ``n_ctx`` context vectors (initialised from the first tokens of "a photo
of a"; the remaining words stay fixed text) at the input, and fresh text
prompts (N(0, 0.02)) replacing those positions before layers 1 .. depth-1.
Vision: at each of the same depths the vision prompts are a coupling function
Linear(W_text, D_vision) of that depth's text prompts, so the two towers are
prompted jointly. As in the release (trainers/maple.py), the input coupling is a
Linear of its own and the couplings of depths 1 .. depth-1 start as copies of one
Linear (``_get_clones``). On ViT-B/16 (depth 9, n_ctx 2):
  text 9 * 2 * 512 = 9,216 + coupling 9 * (512 * 768 + 768) = 3,545,856
  = 3,555,072 trainable parameters (the paper's "3.55M").
The image tower's input changes, so image features cannot be cached.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..backbones.base import Backbone
from ._prompting import ClassPrompts, EvalCache, cosine_logits, dassl_training, word_context
from .recipes import DEFAULT_RECIPE, check_recipe
from .base import Method, TaskInfo
from .registry import register_method


#: Protocols MaPLe released a config of its own for (its repository's RUN guide, "Cross-Dataset Transfer").
TRANSFER_PROTOCOLS = ("cross_dataset", "domain_generalization")


@dataclass
class MaPLeConfig:
    n_ctx: int = 2
    ctx_init: str = "a photo of a"
    depth: int = 9  # prompted layers (1 = shallow); capped at the shallower tower's depth
    init_std: float = 0.02


@register_method
class MaPLe(Method):
    name = "maple"
    runs_pure_fp16 = True  # the release trains in pure fp16 (recipes/dassl.py RELEASED_PRECISION)
    Config = MaPLeConfig
    scores_unseen_classes = True  # text prompts before any class name; vision prompts class-free

    def __init__(self, cfg: MaPLeConfig, backbone: Backbone, task: TaskInfo):
        super().__init__(cfg, backbone, task)
        text = backbone.text
        # Small towers (micro-CLIP has 4 layers) cannot take depth 9.
        self.depth = max(1, min(cfg.depth, text.num_layers, backbone.info.num_layers))
        prefix, init = word_context(text, cfg.ctx_init, cfg.n_ctx)
        self.ctx = nn.Parameter(init)
        self.prompts = ClassPrompts(text, task.classnames, prefix, cfg.n_ctx)
        deep = torch.empty(self.depth - 1, cfg.n_ctx, text.width)
        nn.init.normal_(deep, std=cfg.init_std)
        self.deep_text = nn.Parameter(deep)
        # coupling[0] maps the input context, coupling[i] the layer-i text prompts;
        # the deeper ones start identical (copies of one Linear), as released.
        deeper = nn.Linear(text.width, backbone.info.width)
        self.coupling = nn.ModuleList([nn.Linear(text.width, backbone.info.width)]
                                      + [copy.deepcopy(deeper) for _ in range(self.depth - 1)])
        self._class_cache = EvalCache()

    @classmethod
    def default_config(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, **context) -> dict[str, Any]:
        # multimodal-prompt-learning configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml:
        # N_CTX 2, CTX_INIT "a photo of a", PROMPT_DEPTH 9.
        check_recipe(recipe)
        # ..._cross_datasets.yaml (cross-dataset and domain generalization, trained on ImageNet): depth 3.
        depth = 3 if context.get("protocol") in TRANSFER_PROTOCOLS else 9
        return {"n_ctx": 2, "ctx_init": "a photo of a", "depth": depth, "init_std": 0.02}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """The tuned protocol's space: the engine's lr / weight decay / epochs and
        ``n_ctx`` (MaPLe's config uses N_CTX 2 (configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml); its ablation varies it)."""
        from .search_space import Choice

        return {**super().search_space(), "n_ctx": Choice((2, 4))}

    @classmethod
    def default_training(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, **context) -> dict[str, Any]:
        # The same config (base-to-novel, 16 shots): lr 0.0035, batch 4, 5 epochs. MaPLe
        # released no few-shot config; lore-bench uses this one at every shot count.
        if context.get("protocol") in TRANSFER_PROTOCOLS:
            # configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx_cross_datasets.yaml: lr 0.0026, 2 epochs, batch 4.
            return dassl_training(cls.name, recipe, epochs=2, lr=0.0026, batch_size=4)
        return dassl_training(cls.name, recipe, epochs=5, lr=0.0035, batch_size=4)

    def retarget(self, task: TaskInfo) -> None:
        self._set_task(task)
        self.prompts = self.prompts.for_classes(task.classnames)
        self._class_cache.clear()

    def text_prompts(self) -> list[Tensor]:
        return [self.ctx, *self.deep_text.unbind(0)]

    def vision_prompts(self) -> list[Tensor]:
        return [proj(p) for proj, p in zip(self.coupling, self.text_prompts())]

    def class_features(self) -> Tensor:
        def encode():
            return self.prompts.encode(self.ctx, deep_prompts=[None, *self.deep_text.unbind(0)])

        return self._class_cache.get([self.ctx, self.deep_text], encode)

    def forward(self, images: Tensor) -> Tensor:
        features = self.backbone.forward_prompted(images, self.vision_prompts())
        return cosine_logits(features, self.class_features(), self.backbone.logit_scale)
