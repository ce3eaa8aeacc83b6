"""ProGrad (Zhu et al., ICCV 2023): CoOp trained with prompt-aligned gradients.

Each step computes the cross-entropy gradient g and the gradient g_kl of
KL(p_zs || p_prompted) at temperature T, where p_zs are zero-shot CLIP's
predictions with ProGrad's own template for the dataset (the one the context
is initialised from; recipes/dassl.py PROGRAD_TEMPLATES). When they conflict
(g . g_kl < 0) the conflicting component is removed:
    g <- g - lam * (g . g_kl / ||g_kl||^2) g_kl
so with lam = 1 the update never moves against the zero-shot knowledge. The
projection is over all trainable parameters flattened into one vector.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from ..backbones.base import Backbone, TextTower
from ._prompting import (coop_epochs, cosine_logits, counted_word_context, dassl_training, replace_buffer,
                         template_classifier)
from .base import Method, TaskInfo
from .coop import CoOp
from .recipes import DEFAULT_RECIPE, check_recipe
from .recipes.dassl import prograd_lambda, prograd_template
from .registry import register_method


@dataclass
class ProGradConfig:
    n_ctx: int = 16
    lam: float = 1.0  # "lambda" in the paper (a Python keyword)
    temperature: float = 1.0
    # The template of the context init and the zero-shot teacher, class last. ""
    # (and default_config for a dataset ProGrad never ran) = the dataset's
    # hand-crafted template with the class moved to the end (template_words).
    template: str = ""


def template_words(template: str) -> str:
    """The hand-crafted template without the class slot, class moved to the end
    as ProGrad does by hand ("a photo of a {}, a type of pet." -> "a type of
    pet, a photo of a"): the learned prompt ends with the class name."""
    head, _, tail = template.partition("{}")
    parts = [tail.strip().strip(".").strip(" ,"), head.strip()]
    return ", ".join(p for p in parts if p)


def class_last_template(template: str) -> str:
    """``template`` with the class slot moved to the end, as ProGrad wrote its own."""
    words = template_words(template)
    return f"{words} {{}}." if words else "{}."


def prograd_project(g: Tensor, g_kl: Tensor, lam: float) -> Tensor:
    """Flattened gradient g projected against g_kl when they conflict."""
    # min(dot, 0): no projection without conflict, and no host sync on a GPU.
    dot = torch.dot(g, g_kl).clamp(max=0.0)
    return g - lam * (dot / g_kl.pow(2).sum().clamp_min(1e-30)) * g_kl


@register_method
class ProGrad(CoOp):
    name = "prograd"
    runs_pure_fp16 = True  # the release trains in pure fp16 (recipes/dassl.py RELEASED_PRECISION)
    Config = ProGradConfig
    manual_backward = True

    def __init__(self, cfg: Any, backbone: Backbone, task: TaskInfo):
        super().__init__(cfg, backbone, task)
        zs = template_classifier(backbone.text, self.template, task.classnames)
        self.register_buffer("zero_shot_classifier", zs, persistent=False)

    def retarget(self, task: TaskInfo) -> None:
        super().retarget(task)  # the context; the teacher below only matters in training
        replace_buffer(self, "zero_shot_classifier",
                       template_classifier(self.backbone.text, self.template, task.classnames))

    @property
    def template(self) -> str:
        return self.cfg.template or class_last_template(self.task.template)

    def initial_context(self, text: TextTower):
        # ProGrad (trainers/prograd.py PromptLearner): the template's words are counted,
        # zeros first, then the first #words token embeddings right before the class name.
        return counted_word_context(text, template_words(self.template), self.cfg.n_ctx)

    @classmethod
    def default_config(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, **context) -> dict[str, Any]:
        # Prompt-align ProGrad.public: N_CTX 16 (train.py, README commands), LOSS.T 1.0 (configs/trainers/ProGrad),
        # lambda per README, CTX_INIT True = the dataset's CUSTOM_TEMPLATES entry.
        check_recipe(recipe)
        return {"n_ctx": 16, "lam": prograd_lambda(dataset, shots), "temperature": 1.0,
                "template": prograd_template(dataset) or ""}

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """The tuned protocol's space: the engine's lr / weight decay / epochs and
        ``lam`` (ProGrad's configs set LAMBDA 1.0; the paper's ablation, Sec. 4.4,
        lowers it). Not CoOp's ``n_ctx``: ProGrad's context is initialised from its
        template's words, which fix the context length."""
        from .search_space import Choice

        return {**Method.search_space.__func__(cls), "lam": Choice((0.5, 0.8, 1.0))}

    @classmethod
    def default_training(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, **context) -> dict[str, Any]:
        # configs/trainers/ProGrad/rn50{,_ep100,_ep50}.yaml (the only ones released): lr 0.002,
        # batch 32, CoOp's epochs by shots (README); the same values on ViT backbones.
        return dassl_training(cls.name, recipe, coop_epochs(dataset, shots), lr=0.002, batch_size=32)

    def training_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        if "features" in batch:
            features = batch["features"]
        else:
            with torch.no_grad():
                features = self.backbone.encode_image(batch["images"])
        logits = self.logits_from_features(features)
        with torch.no_grad():
            zs_logits = cosine_logits(features, self.zero_shot_classifier, self.backbone.logit_scale)
        T = self.cfg.temperature
        ce = F.cross_entropy(logits, batch["labels"])
        kl = F.kl_div(
            F.log_softmax(logits.float() / T, dim=-1),
            F.softmax(zs_logits.float() / T, dim=-1),
            reduction="batchmean",
        ) * (T * T)
        params = [p for p in self.trainable_parameters()]
        g = torch.autograd.grad(ce, params, retain_graph=True)
        g_kl = torch.autograd.grad(kl, params)
        flat = prograd_project(_flat(g), _flat(g_kl), self.cfg.lam)
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).to(p.dtype)
            offset += n
        return {"loss": ce.detach(), "logits": logits.detach(), "kl": kl.detach()}


def _flat(grads) -> Tensor:
    return torch.cat([g.reshape(-1).float() for g in grads])
