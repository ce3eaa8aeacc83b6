"""ProGrad (Zhu et al., ICCV 2023): CoOp trained with prompt-aligned gradients.

Each step computes the cross-entropy gradient g and the gradient g_kl of
KL(p_zs || p_prompted) at temperature T, where p_zs are zero-shot CLIP's
predictions with the dataset's hand-crafted template. When they conflict
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
from ._prompting import cosine_logits, dataset_key, template_classifier, word_context
from .base import TaskInfo
from .coop import CoOp
from .registry import register_method

#: ProGrad's lambda is 0.8 on these datasets at 8 and 16 shots, 1.0 elsewhere.
_LAMBDA_08 = ("flower", "dtd", "texture", "eurosat")


@dataclass
class ProGradConfig:
    n_ctx: int = 16
    lam: float = 1.0  # "lambda" in the paper (a Python keyword)
    temperature: float = 1.0


def template_words(template: str) -> str:
    """The hand-crafted template without the class slot, class moved to the end
    as ProGrad does by hand ("a photo of a {}, a type of pet." -> "a type of
    pet, a photo of a"): the learned prompt ends with the class name."""
    head, _, tail = template.partition("{}")
    parts = [tail.strip().strip(".").strip(" ,"), head.strip()]
    return ", ".join(p for p in parts if p)


def prograd_project(g: Tensor, g_kl: Tensor, lam: float) -> Tensor:
    """Flattened gradient g projected against g_kl when they conflict."""
    # min(dot, 0): no projection without conflict, and no host sync on a GPU.
    dot = torch.dot(g, g_kl).clamp(max=0.0)
    return g - lam * (dot / g_kl.pow(2).sum().clamp_min(1e-30)) * g_kl


@register_method
class ProGrad(CoOp):
    name = "prograd"
    Config = ProGradConfig
    manual_backward = True

    def __init__(self, cfg: Any, backbone: Backbone, task: TaskInfo):
        super().__init__(cfg, backbone, task)
        zs = template_classifier(backbone.text, task.template, task.classnames)
        self.register_buffer("zero_shot_classifier", zs, persistent=False)

    def initial_context(self, text: TextTower):
        # ProGrad initialises CoOp's 16 vectors from the hand-crafted template:
        # zeros, then the template's words right before the class name.
        return word_context(text, template_words(self.task.template), self.cfg.n_ctx)

    @classmethod
    def default_config(cls, dataset: str, shots: int) -> dict[str, Any]:
        key = dataset_key(dataset)
        lam = 0.8 if shots >= 8 and any(k in key for k in _LAMBDA_08) else 1.0
        return {"lam": lam}

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
