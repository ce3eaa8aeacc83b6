"""LORE (ACM MM 2024): locality-aware prompt learning for a frozen ViT
(docs/lore.md).

A trainable White Box (LIN -> PG, plus KLA in training) generates prompts per
image; with shared deep prompts they enter the frozen tower at every layer as
``[CLS, shared, generated, patches]``. A linear head reads the final CLS.
Loss: ``CE - lam * cos(Y, A[t]) + lam * cos(Y, A[p]) [p != t]`` with t the true
and p a precomputed "confusing" label. Evaluation runs LIN + PG only.
"""
from __future__ import annotations

import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..backbones.base import Backbone
from ._lore_graph import LocalityInteractionNetwork
from ._lore_kla import build_kla
from ._lore_pg import PromptGenerator
from ._prompting import template_classifier
from .base import Method, PrepareContext, TaskInfo
from .recipes import DEFAULT_RECIPE
from .recipes.lore import lore_config, lore_hard_stage, lore_training, raw_classnames
from .registry import register_method

#: The template of the frozen zero-shot CLIP that picks the confusing labels
#: (lore_bench recipe; the authors' "a photo of a {}" has no period).
ZERO_SHOT_TEMPLATE = "a photo of a {}."
NAME_STYLES = ("clean", "raw")


@dataclass
class LoreConfig:
    n_shared: int = 8  # shared deep prompts per layer
    n_generated: int = 2  # generated (locality-aware) prompts per layer per image
    k: int = 9  # neighbours in LIN's kNN graph (self included)
    top_n: int = 9  # patch scores kept per class in KLA
    reduction: int = 32  # PG bottleneck width in channels (the code's fixed 32, not D / r)
    lam: float = 0.1  # weight of the pull and push terms
    kla_variant: str = "code"  # code | paper
    use_kla: bool = True  # False: CE only, no KLA module (the paper's "w/o L_kp")
    dropout: float = 0.1  # after PG's last BatchNorm
    # Class names of the knowledge prompts and of the confusing-label zero-shot:
    # "clean" (underscores as spaces) or "raw" (underscores where the release kept them).
    knowledge_names: str = "clean"
    confusing_names: str = "clean"
    confusing_template: str = ZERO_SHOT_TEMPLATE
    # Backbone (a named one) whose zero-shot CLIP picks the confusing labels; "" = this
    # trial's. The authors' ViT-B/32 runs used ViT-B/16's labels.
    confusing_backbone: str = ""
    # LIN, PG and KLA in fp32 whatever the autocast (the release's White Box is fp32
    # next to an fp16 CLIP). kNN and top-N selections are fp32 in any case.
    white_box_fp32: bool = False
    # The release's loop calls model.eval() after the first epoch's evaluation and
    # never returns to train mode: true reproduces that (BatchNorm statistics frozen
    # and dropout off from the 2nd epoch on, and in a whole hard stage). A defect of
    # the release; off in every recipe unless a suite asks for it.
    eval_mode_quirk: bool = False

    def __post_init__(self):
        if self.kla_variant not in ("code", "paper"):
            raise ValueError(f"kla_variant must be 'code' or 'paper', got '{self.kla_variant}'")
        for key in ("knowledge_names", "confusing_names"):
            if getattr(self, key) not in NAME_STYLES:
                raise ValueError(f"{key} must be one of {', '.join(NAME_STYLES)}, got '{getattr(self, key)}'")
        if self.n_shared < 0 or self.n_generated < 1 or self.k < 1 or self.top_n < 1 or self.reduction < 1:
            raise ValueError("n_shared >= 0, n_generated >= 1, k >= 1, top_n >= 1 and reduction >= 1 are required")


@register_method
class Lore(Method):
    name = "lore"
    Config = LoreConfig

    def __init__(self, cfg: LoreConfig, backbone: Backbone, task: TaskInfo):
        super().__init__(cfg, backbone, task)
        info = backbone.info
        dim, layers, patches = info.width, info.num_layers, info.num_patches
        if cfg.k > patches:
            raise ValueError(f"k={cfg.k} exceeds the {patches} patches of backbone '{backbone.name}'")
        self.shared = nn.Parameter(torch.empty(layers, cfg.n_shared, dim))
        nn.init.normal_(self.shared, std=0.02)
        self.lin = LocalityInteractionNetwork(dim, cfg.k)
        self.pg = PromptGenerator(dim, layers, cfg.n_generated, cfg.reduction, cfg.dropout)
        text_dim = backbone.text.embed_dim
        self.kla = build_kla(cfg.kla_variant, dim, text_dim, patches, cfg.top_n) if cfg.use_kla else None
        self.head = nn.Linear(info.feature_dim, task.num_classes)
        # Knowledge q: frozen, so computed once; derived data, not saved.
        raw = cfg.knowledge_names == "raw"
        names = raw_classnames(task.dataset, task.classnames, confusing=False) if raw else task.classnames
        self.register_buffer("knowledge", template_classifier(backbone.text, task.lore_template, names,
                                                              keep_underscores=raw), persistent=False)
        self.register_buffer("confusing_labels", None, persistent=False)
        if cfg.eval_mode_quirk:
            # Latched by the first training step: saved with the trainable state, so a
            # trial resumed from a checkpoint keeps training in eval mode.
            self.register_buffer("quirk_trained", torch.zeros((), dtype=torch.long))
        self._pinned = False
        self._warned = False

    # -- published defaults (methods/recipes/lore.py) --------------------------------
    @classmethod
    def default_config(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, *,
                       backbone: Any = None, protocol: str | None = None) -> dict[str, Any]:
        return lore_config(dataset, shots, recipe, backbone, protocol)

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """The tuned protocol's space: the engine's lr / weight decay / epochs and
        ``lam`` (LORE's released configs use lambda 0.1; halved and doubled around it)."""
        from .search_space import Choice

        return {**super().search_space(), "lam": Choice((0.05, 0.1, 0.2))}

    @classmethod
    def default_training(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, *,
                         backbone: Any = None, protocol: str | None = None) -> dict[str, Any]:
        """Few-shot, or the easy stage of easy-to-hard."""
        return lore_training(dataset, shots, recipe, backbone, protocol)

    @classmethod
    def hard_stage_training(cls, dataset: str = "", shots: int = 0, recipe: str = DEFAULT_RECIPE, *,
                            backbone: Any = None) -> dict[str, Any]:
        """Easy-to-hard, hard stage: fresh optimizer, 5 epochs, the released hard-stage
        lr (5e-4; 1e-4 on ImageNet and EuroSAT) cosine to 1e-4, the easy stage's wd and batch."""
        return lore_hard_stage(dataset, shots, recipe, backbone)

    # -- the model ------------------------------------------------------------------
    def _white_box_precision(self, device_type: str):
        """fp32 for the White Box when ``white_box_fp32``; otherwise the caller's autocast."""
        return torch.autocast(device_type, enabled=False) if self.cfg.white_box_fp32 else nullcontext()

    def white_box(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(locality features E [B, P, D], locality feature Y [B, D], prompts U [B, L, n_gen, D])."""
        patches = self.backbone.patch_embed(images).float()  # frozen conv, no positional embedding
        with self._white_box_precision(images.device.type):
            e_hat = self.lin(patches)
            y, u = self.pg(e_hat)
        return e_hat, y, u

    def train(self, mode: bool = True):
        # eval_mode_quirk: once a training step ran, train() keeps the eval mode.
        if mode and self.cfg.eval_mode_quirk and int(self.quirk_trained) > 0:
            mode = False
        return super().train(mode)

    def layer_prompts(self, generated: Tensor) -> list[Tensor]:
        """Per-layer prompts [B, n_shared + n_generated, D]: shared first, then generated."""
        b = generated.shape[0]
        return [torch.cat([self.shared[i].expand(b, -1, -1).to(generated.dtype), generated[:, i]], dim=1)
                for i in range(generated.shape[1])]

    def _features(self, images: Tensor, generated: Tensor) -> Tensor:
        """The prompted tower's final CLS feature: L2-normalised on CLIP (as the
        release's ``features`` output); a vanilla ViT's pre-logits feature as it is
        (docs/lore.md, "What runs")."""
        feats = self.backbone.forward_prompted(images, self.layer_prompts(generated))
        return F.normalize(feats, dim=-1) if self.backbone.family == "clip" else feats

    def classify(self, images: Tensor, generated: Tensor) -> Tensor:
        feats = self._features(images, generated)
        if self.backbone.family == "clip":
            feats = self.backbone.logit_scale * feats
        return self.head(feats.to(self.head.weight.dtype))

    def adapted_features(self, images: Tensor) -> Tensor:
        """What ``utils/get_hard_samples.py`` herds on: the easy-stage model's features."""
        return self._features(images, self.white_box(images)[2])

    def prompts_for(self, images: Tensor) -> list[Tensor]:
        """The White Box's per-layer prompts for ``images``: how the frozen-feature
        tasks (retrieval, correspondence, video segmentation) read a prompted backbone."""
        return self.layer_prompts(self.white_box(images)[2])

    def forward(self, images: Tensor) -> Tensor:
        """Logits [B, C]; LIN + PG only (KLA is a training-time loss)."""
        _, _, u = self.white_box(images)
        return self.classify(images, u)

    # -- training ---------------------------------------------------------------------
    def training_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        images, labels = batch["images"], batch["labels"]
        e_hat, y, u = self.white_box(images)
        logits = self.classify(images, u)
        ce = F.cross_entropy(logits, labels)
        out = {"logits": logits, "ce": ce.detach()}
        if self.kla is None:
            return {**out, "loss": ce}
        if self.cfg.eval_mode_quirk and self.training:
            self.quirk_trained.fill_(1)
        confusing = self._confusing(batch)
        with self._white_box_precision(images.device.type):
            a_true, a_conf = self.prototypes(e_hat, labels, confusing)
        pull = F.cosine_similarity(y, a_true, dim=-1).mean()
        # Summed over the images whose confusing label differs, divided by the whole batch (as the code).
        push = (F.cosine_similarity(y, a_conf, dim=-1) * (confusing != labels)).sum() / len(labels)
        loss = ce - self.cfg.lam * pull + self.cfg.lam * push
        return {**out, "loss": loss, "pull": pull.detach(), "push": push.detach()}

    def prototypes(self, e_hat: Tensor, labels: Tensor, confusing: Tensor) -> tuple[Tensor, Tensor]:
        """K-L prototypes of each image's true and confusing class, [B, D] each."""
        if self.cfg.kla_variant == "code":
            # Each class's prototype depends on that class's query alone, so only
            # the two needed classes are computed (C x less work than all classes).
            a = self.kla(e_hat, self.knowledge[torch.stack([labels, confusing], dim=1)])
            return a[:, 0], a[:, 1]
        a = self.kla(e_hat, self.knowledge)  # BatchNorm couples the classes: compute them all
        rows = torch.arange(len(labels), device=labels.device)
        return a[rows, labels], a[rows, confusing]

    def _confusing(self, batch: dict[str, Tensor]) -> Tensor:
        if self.confusing_labels is not None:
            return self.confusing_labels[batch["index"]]
        if not self._warned:
            warnings.warn("lore: prepare() was not called; confusing labels come from the current batch "
                          "(augmented images) instead of the un-augmented training shots", stacklevel=3)
            self._warned = True
        return self._frozen_predictions(batch["images"], batch["labels"])

    # -- confusing labels ------------------------------------------------------------------
    def set_confusing_labels(self, labels: Tensor) -> None:
        """Confusing label of every training sample (by ``batch['index']``). Labels set
        before training are kept by the next :meth:`prepare` (easy-to-hard hard stage)."""
        self.confusing_labels = labels.detach().to(self.knowledge.device, torch.long)
        self._pinned = True

    @torch.no_grad()
    def prepare(self, context: PrepareContext) -> None:
        """Confusing labels on the un-augmented training shots: the frozen zero-shot CLIP
        (``confusing_template``, of ``confusing_backbone`` if set) in a few-shot or easy
        stage, this model's own prediction in the hard stage (it holds the easy-stage
        weights then)."""
        if self._pinned:
            self._pinned = False
            return
        if self.kla is None:  # no push term without KLA: nothing to precompute
            return
        n = len(context.labels)
        preds = torch.full((n,), -1, dtype=torch.long, device=self.knowledge.device)
        vit_feats: Tensor | None = None
        was_training = self.training
        self.eval()
        try:
            for batch in context.batches():
                images = batch["images"].to(self.knowledge.device)
                index = batch["index"].to(self.knowledge.device)
                if getattr(context, "stage", None) == "hard":
                    preds[index] = self(images).argmax(-1)
                elif self.backbone.family == "clip" or self.cfg.confusing_backbone:
                    preds[index] = self._frozen_predictions(images, batch["labels"])
                else:
                    f = self.backbone.encode_image(images).float()
                    vit_feats = f.new_zeros(n, f.shape[1]) if vit_feats is None else vit_feats
                    vit_feats[index] = f
        finally:
            self.train(was_training)
        if vit_feats is not None:
            preds = _leave_one_out_ncm(vit_feats, context.labels.to(vit_feats.device), self.task.num_classes)
        if (preds < 0).any():
            raise RuntimeError("lore.prepare: context.batches() did not cover every training index")
        self.confusing_labels = preds

    def _zero_shot_model(self, device: torch.device) -> Backbone:
        """The CLIP whose zero-shot prediction is the confusing label."""
        name = self.cfg.confusing_backbone
        if not name or name == self.backbone.name:
            return self.backbone
        if getattr(self, "_other", None) is None:
            from ..backbones import build_backbone

            other = build_backbone(name)
            mine, theirs = self.backbone.info, other.info
            if other.family != "clip":
                raise ValueError(f"lore: confusing_backbone '{name}' has no zero-shot classifier (not a CLIP)")
            if (mine.image_size, mine.mean, mine.std) != (theirs.image_size, theirs.mean, theirs.std):
                raise ValueError(f"lore: confusing_backbone '{name}' preprocesses images unlike '{self.backbone.name}'")
            self._other = [other]  # a list keeps it out of this module's children (not saved, not moved)
        return self._other[0].to(device)

    def _frozen_predictions(self, images: Tensor, labels: Tensor) -> Tensor:
        """Zero-shot CLIP prediction; a vanilla ViT has no zero-shot classifier, so
        outside prepare() its images get their own label (no push term)."""
        if self.backbone.family != "clip" and not self.cfg.confusing_backbone:
            return labels
        model = self._zero_shot_model(images.device)
        if getattr(self, "_zero_shot", None) is None or self._zero_shot.device != images.device:
            raw = self.cfg.confusing_names == "raw"
            names = raw_classnames(self.task.dataset, self.task.classnames, confusing=True) if raw else self.task.classnames
            self._zero_shot = template_classifier(model.text, self.cfg.confusing_template, names,
                                                  keep_underscores=raw).to(images.device)
        with torch.no_grad():
            feats = F.normalize(model.encode_image(images).float(), dim=-1)
        return (feats @ self._zero_shot.t()).argmax(-1)


def _leave_one_out_ncm(feats: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Nearest class mean (cosine) with each sample left out of its own class mean:
    the vanilla-ViT stand-in for CLIP's zero-shot prediction. A class with a single
    shot has no mean without it, so that sample gets the nearest other class."""
    f = F.normalize(feats, dim=-1)
    onehot = F.one_hot(labels, num_classes).to(f.dtype)
    sums, counts = onehot.t() @ f, onehot.sum(0)
    own = (sums[labels] - f) / (counts[labels] - 1).clamp_min(1).unsqueeze(1)
    means = sums / counts.clamp_min(1).unsqueeze(1)
    sim = f @ F.normalize(means, dim=-1).t()
    own_sim = (f * F.normalize(own, dim=-1)).sum(-1)
    own_sim[counts[labels] <= 1] = float("-inf")
    sim[torch.arange(len(labels)), labels] = own_sim
    sim[:, counts == 0] = float("-inf")
    return sim.argmax(-1)
