"""Tip-Adapter-F (Zhang et al., ECCV 2022): a key-value cache of the few-shot
training set on top of zero-shot CLIP, with the keys fine-tuned.

    logits = scale * f W^T + alpha * exp(-beta * (1 - f K^T)) V

f is the L2-normalised image feature, W the frozen text classifier of the
dataset's template, K the cache keys (initialised to the normalised features of
the training shots, then trained), V their one-hot labels. The image tower is
never touched, so the engine serves features from its cache.

alpha and beta are searched on the training shots only, never on a test or
validation split: leave-one-out over the cache, each shot scored against the
cache without its own entry, before fine-tuning; training and evaluation use the
chosen pair. Defaults are the released per-dataset configs
(gaopengcuhk/Tip-Adapter configs/*.yaml, main.py, utils.py; docs/methods.md).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..backbones.base import Backbone
from ._prompting import dataset_key, template_classifier
from .base import ConfigError, Method, PrepareContext, TaskInfo
from .registry import register_method

log = logging.getLogger(__name__)

#: configs/<dataset>.yaml of the release: init_alpha, search_scale (beta max, alpha max), train_epoch;
#: init_beta is 1 and search_step [200, 20] in every file.
RELEASED = {
    "caltech101": (3.0, 12.0, 5.0, 20),
    "dtd": (2.0, 13.0, 13.0, 20),
    "eurosat": (2.0, 12.0, 10.0, 100),
    "fgvc_aircraft": (5.0, 30.0, 30.0, 20),  # configs/fgvc.yaml
    "food101": (1.17, 10.0, 10.0, 20),
    "imagenet": (1.17, 7.0, 3.0, 20),
    "flowers102": (10.0, 50.0, 50.0, 20),  # configs/oxford_flowers.yaml
    "oxford_pets": (1.17, 7.0, 3.0, 20),
    "stanford_cars": (3.0, 20.0, 10.0, 20),
    "sun397": (1.17, 12.0, 10.0, 20),
    "ucf101": (3.0, 7.0, 3.0, 20),
}
#: Datasets the release has no config for: its most common init (ImageNet, Food101,
#: Pets, SUN397) and SUN397's / EuroSAT's search range (our choice, docs/methods.md).
OTHER = (1.17, 12.0, 10.0, 20)


@dataclass
class TipAdapterConfig:
    init_alpha: float = OTHER[0]
    init_beta: float = 1.0
    search: bool = True  # leave-one-out search of (beta, alpha) on the training shots
    beta_max: float = OTHER[1]  # search_scale[0]
    alpha_max: float = OTHER[2]  # search_scale[1]
    beta_steps: int = 200  # search_step[0]
    alpha_steps: int = 20  # search_step[1]


@register_method
class TipAdapterF(Method):
    name = "tip_adapter_f"
    Config = TipAdapterConfig
    caches_image_features = True

    def __init__(self, cfg: TipAdapterConfig, backbone: Backbone, task: TaskInfo):
        super().__init__(cfg, backbone, task)
        if cfg.beta_steps < 1 or cfg.alpha_steps < 1:
            raise ConfigError("tip_adapter_f: beta_steps and alpha_steps must be >= 1", field="beta_steps")
        classifier = template_classifier(backbone.text, task.template, task.classnames)
        self.register_buffer("classifier", classifier, persistent=False)
        # Sized for the trial's C x K shots so the count is known before prepare();
        # prepare() refills (and, if a class has fewer images, resizes) the cache.
        size = task.num_classes * max(task.shots, 1)
        self.keys = nn.Parameter(torch.zeros(size, backbone.info.feature_dim))
        self.register_buffer("values", torch.zeros(size, task.num_classes))
        self.register_buffer("alpha", torch.tensor(float(cfg.init_alpha)))
        self.register_buffer("beta", torch.tensor(float(cfg.init_beta)))

    @classmethod
    def default_config(cls, dataset: str, shots: int) -> dict[str, Any]:
        alpha, beta_max, alpha_max, _ = RELEASED.get(dataset_key(dataset), OTHER)
        return {"init_alpha": alpha, "beta_max": beta_max, "alpha_max": alpha_max}

    @classmethod
    def default_training(cls, dataset: str, shots: int) -> dict[str, Any]:
        # main.py: AdamW(lr 1e-3, eps 1e-4; torch's weight decay 0.01), cosine to 0
        # over all iterations, batch 256, RandomResizedCrop + flip.
        epochs = RELEASED.get(dataset_key(dataset), OTHER)[3]
        return {"epochs": epochs, "lr": 1e-3, "batch_size": 256, "optimizer": "adamw", "weight_decay": 0.01,
                "warmup_epochs": 0, "min_lr": 0.0, "augment": True}

    def prepare(self, context: PrepareContext) -> None:
        feats = F.normalize(context.features().detach().float(), dim=-1).to(self.classifier.device)
        labels = context.labels.to(feats.device)
        if len(labels) == 0:
            raise ValueError("tip_adapter_f needs training shots (shots >= 1)")
        self.keys = nn.Parameter(feats.clone())  # the training-free cache; fine-tuned from here
        self.values = F.one_hot(labels, self.task.num_classes).float()
        counts = torch.bincount(labels, minlength=self.task.num_classes)
        if not self.cfg.search or int(counts[counts > 0].min()) < 2:
            # One shot of a class: without it the cache holds no example of its
            # class, so leave-one-out says nothing; the released init is kept.
            log.info("tip_adapter_f: no search (%s), beta=%g alpha=%g",
                     "off" if not self.cfg.search else "a class has one shot", float(self.beta), float(self.alpha))
            return
        clip_logits = self.backbone.logit_scale * feats @ self.classifier.t().float()
        betas, alphas = search_grid(self.cfg.beta_max, self.cfg.beta_steps), search_grid(self.cfg.alpha_max,
                                                                                           self.cfg.alpha_steps)
        beta, alpha, acc = leave_one_out_search(feats, labels, self.values, clip_logits, betas, alphas)
        self.beta.fill_(beta)
        self.alpha.fill_(alpha)
        log.info("tip_adapter_f: leave-one-out on %d shots: beta=%g alpha=%g (%.1f%%)", len(labels), beta, alpha,
                 100 * acc)

    def logits_from_features(self, features: Tensor) -> Tensor:
        # The cache in fp32 even under autocast: exp(-beta (1 - a)) with beta up to
        # 50 magnifies rounding in the affinity a.
        with torch.autocast(features.device.type, enabled=False):
            f = F.normalize(features.float(), dim=-1)
            clip_logits = self.backbone.logit_scale * f @ self.classifier.t().float()
            affinity = f @ self.keys.float().t()
            cache_logits = torch.exp(-self.beta * (1 - affinity)) @ self.values
            return clip_logits + self.alpha * cache_logits


def search_grid(maximum: float, steps: int) -> Tensor:
    """utils.py search_hp: ``steps`` values from 0.1 up to (not including) ``maximum``."""
    return torch.tensor([i * (maximum - 0.1) / steps + 0.1 for i in range(steps)])


@torch.no_grad()
def leave_one_out_search(features: Tensor, labels: Tensor, values: Tensor, clip_logits: Tensor, betas: Tensor,
                         alphas: Tensor, chunk: int = 256) -> tuple[float, float, float]:
    """(beta, alpha, accuracy) maximising the leave-one-out accuracy of the
    training-free cache: shot i is classified with cache entry i removed.
    ``features`` [N, D] are the normalised keys; ties go to the first pair in
    the release's order (beta outer, alpha inner)."""
    n = len(labels)
    betas, alphas = betas.to(features), alphas.to(features)
    correct = torch.zeros(len(betas), len(alphas), device=features.device)
    for start in range(0, n, chunk):
        f = features[start : start + chunk]
        rows = torch.arange(len(f), device=f.device)
        affinity = f @ features.t()  # [b, N]
        y = labels[start : start + chunk]
        for i, beta in enumerate(betas):
            weights = torch.exp(-beta * (1 - affinity))
            weights[rows, start + rows] = 0.0  # leave this shot's own entry out
            cache = weights @ values  # [b, C]
            logits = clip_logits[start : start + chunk].unsqueeze(0) + alphas.view(-1, 1, 1) * cache.unsqueeze(0)
            correct[i] += (logits.argmax(-1) == y.unsqueeze(0)).sum(-1)
    best = int(torch.argmax(correct.flatten()))
    i, j = divmod(best, len(alphas))
    return float(betas[i]), float(alphas[j]), float(correct[i, j]) / n
