"""CoOp (Zhou et al., IJCV 2022): a learned context "[V]_1 ... [V]_n" shared by
all classes (unified context, class-specific context off) before the class
name: prompt = [SOS] ctx "classname ." [EOT]. Only the text side changes, so
the frozen image features can come from the engine's feature cache.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from ..backbones.base import Backbone, TextTower
from ._prompting import ClassPrompts, EvalCache, coop_epochs, cosine_logits, dassl_training, random_context, word_context
from .recipes import DEFAULT_RECIPE, check_recipe
from .base import Method, TaskInfo
from .registry import register_method


@dataclass
class CoOpConfig:
    n_ctx: int = 16
    # Words to initialise the context from ("" = random N(0, init_std), CoOp's
    # published setting); see _prompting.word_context for n_ctx != #tokens.
    ctx_init: str = ""
    init_std: float = 0.02


@register_method
class CoOp(Method):
    name = "coop"
    runs_pure_fp16 = True  # the release trains in pure fp16 (recipes/dassl.py RELEASED_PRECISION)
    Config = CoOpConfig
    caches_image_features = True
    scores_unseen_classes = True  # the learned context goes before any class name

    def __init__(self, cfg: Any, backbone: Backbone, task: TaskInfo):
        super().__init__(cfg, backbone, task)
        text = backbone.text
        prefix, init = self.initial_context(text)
        self.ctx = nn.Parameter(init)
        self.prompts = ClassPrompts(text, task.classnames, prefix, cfg.n_ctx)
        self._class_cache = EvalCache()

    def initial_context(self, text: TextTower):
        if self.cfg.ctx_init:
            return word_context(text, self.cfg.ctx_init, self.cfg.n_ctx)
        return random_context(text, self.cfg.n_ctx, self.cfg.init_std)

    @classmethod
    def default_config(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, **context) -> dict[str, Any]:
        # KaiyangZhou/CoOp train.py: N_CTX 16, CTX_INIT "" (N(0, 0.02)), CSC False, class token at the end.
        check_recipe(recipe)
        return {"n_ctx": 16, "ctx_init": "", "init_std": 0.02}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """The tuned protocol's space: the engine's lr / weight decay / epochs and
        ``n_ctx`` (CoOp paper (Zhou et al., IJCV 2022) Sec. 4 / Fig. 5 compares 4, 8 and 16 context tokens)."""
        from .search_space import Choice

        return {**super().search_space(), "n_ctx": Choice((4, 8, 16))}

    @classmethod
    def default_training(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, **context) -> dict[str, Any]:
        # CoOp configs/trainers/CoOp/vit_b16{,_ep100,_ep50}.yaml: lr 0.002, batch 32; epochs by shots (COOP.md).
        return dassl_training(cls.name, recipe, coop_epochs(dataset, shots), lr=0.002, batch_size=32)

    def retarget(self, task: TaskInfo) -> None:
        self._set_task(task)
        self.prompts = self.prompts.for_classes(task.classnames)
        self._class_cache.clear()

    def class_features(self) -> Tensor:
        """Normalised class embeddings [C, E]; encoded once per evaluation."""
        return self._class_cache.get([self.ctx], lambda: self.prompts.encode(self.ctx))

    def logits_from_features(self, features: Tensor) -> Tensor:
        return cosine_logits(features, self.class_features(), self.backbone.logit_scale)
