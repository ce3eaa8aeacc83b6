"""CLIP-LoRA (Zanella & Ben Ayed, CVPR Workshops 2024): low-rank adapters on the
query, key and value projections of every attention layer of both CLIP towers;
the classifier is the text tower's (adapted) embedding of the dataset's template.

The released code (MaxZanella/CLIP-LoRA) is the source of every default
(docs/methods.md lists them with their files). open_clip keeps q, k and v fused
in ``nn.MultiheadAttention.in_proj_weight``; :class:`LoRAAttention` wraps that
module, keeps its frozen weights and adds ``scale * B @ A`` to each adapted
slice, with dropout on the adapter's input only, as the release does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..backbones.base import Backbone
from ._prompting import EvalCache, class_texts, cosine_logits, replace_buffer, template_classifier
from .base import ConfigError, Method, TaskInfo
from .registry import register_method

TARGETS = ("q", "k", "v", "o")  # "o": the attention's output projection
ENCODERS = ("both", "vision", "text")


class LoRAAttention(nn.Module):
    """A frozen batch-first ``nn.MultiheadAttention`` plus LoRA updates.

    For each target t the projection becomes ``W_t x + b_t + scale * B_t A_t drop(x)``
    with ``scale = alpha / sqrt(rank)`` (the release's scaling, not LoRA's
    alpha / rank), A ~ kaiming-uniform(a=sqrt(5)) and B = 0, so the wrapped layer
    starts exactly as the frozen one. Each target has its own dropout."""

    def __init__(self, base: nn.MultiheadAttention, targets: tuple[str, ...], rank: int, alpha: float,
                 dropout: float):
        super().__init__()
        if not base.batch_first or not base._qkv_same_embed_dim or base.in_proj_weight is None:
            raise ValueError("LoRA needs a batch-first nn.MultiheadAttention with a fused in_proj_weight")
        self.base = base
        self.targets = tuple(targets)
        self.scale = alpha / math.sqrt(rank)
        dim = base.embed_dim
        ref = base.in_proj_weight
        for t in self.targets:
            a = nn.Parameter(torch.empty(rank, dim, dtype=ref.dtype, device=ref.device))
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            setattr(self, f"lora_A_{t}", a)
            setattr(self, f"lora_B_{t}", nn.Parameter(torch.zeros(dim, rank, dtype=ref.dtype, device=ref.device)))
        self.lora_dropout = nn.ModuleDict({t: nn.Dropout(dropout) for t in self.targets})

    def delta(self, target: str, x: Tensor) -> Tensor | float:
        if target not in self.targets:
            return 0.0
        a, b = getattr(self, f"lora_A_{target}"), getattr(self, f"lora_B_{target}")
        return F.linear(F.linear(self.lora_dropout[target](x), a), b) * self.scale

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Optional[Tensor] = None,
                need_weights: bool = False, attn_mask: Optional[Tensor] = None, average_attn_weights: bool = True,
                is_causal: bool = False):
        if key_padding_mask is not None or need_weights or query.dim() != 3:
            raise NotImplementedError("LoRAAttention supports batched inputs without key padding or weights")
        base, dim = self.base, self.base.embed_dim
        w, b = base.in_proj_weight, base.in_proj_bias
        if query is key and key is value:  # self-attention (CLIP): one fused projection
            q, k, v = F.linear(query, w, b).chunk(3, dim=-1)
        else:
            bq, bk, bv = b.chunk(3) if b is not None else (None, None, None)
            q, k, v = F.linear(query, w[:dim], bq), F.linear(key, w[dim:2 * dim], bk), F.linear(value, w[2 * dim:], bv)
        q, k, v = q + self.delta("q", query), k + self.delta("k", key), v + self.delta("v", value)
        batch, length, _ = q.shape
        heads = base.num_heads

        def split(t: Tensor) -> Tensor:
            return t.view(batch, -1, heads, dim // heads).transpose(1, 2)

        if attn_mask is not None and attn_mask.dtype == torch.bool:  # MHA: True = masked out
            attn_mask = torch.zeros_like(attn_mask, dtype=q.dtype).masked_fill(attn_mask, float("-inf"))
        elif attn_mask is not None:
            attn_mask = attn_mask.to(q.dtype)
        out = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=attn_mask,
                                             is_causal=is_causal and attn_mask is None)
        out = out.transpose(1, 2).reshape(batch, length, dim)
        return base.out_proj(out) + self.delta("o", out), None


@dataclass
class ClipLoRAConfig:
    rank: int = 2  # run_utils.py --r
    alpha: float = 1.0  # run_utils.py --alpha; scale = alpha / sqrt(rank)
    dropout: float = 0.25  # run_utils.py --dropout_rate, on the adapter input
    targets: list[str] = field(default_factory=lambda: ["q", "k", "v"])  # run_utils.py --params
    encoder: str = "both"  # run_utils.py --encoder: both | vision | text
    layers: Optional[list[int]] = None  # None = every layer (the release's --position all)


@register_method
class ClipLoRA(Method):
    name = "clip_lora"
    Config = ClipLoRAConfig
    trains_backbone = True
    scores_unseen_classes = True  # adapters in both towers; the classifier is the (adapted) text tower's

    def __init__(self, cfg: ClipLoRAConfig, backbone: Backbone, task: TaskInfo):
        super().__init__(cfg, backbone, task)
        _check(cfg)
        text = backbone.text
        towers = []
        if cfg.encoder in ("both", "vision"):
            towers.append(("vision", list(backbone.blocks())))
        if cfg.encoder in ("both", "text"):
            towers.append(("text", list(text.transformer.resblocks)))
        if cfg.encoder == "vision":  # the text side stays zero-shot: encode it once
            self.register_buffer("classifier", template_classifier(text, task.template, task.classnames),
                                 persistent=False)
        # A plain list: the wrappers are already children of the backbone's blocks.
        self.adapted: list[LoRAAttention] = []
        for tower, blocks in towers:
            for i in (range(len(blocks)) if cfg.layers is None else sorted(set(cfg.layers))):
                if not 0 <= i < len(blocks):
                    raise ConfigError(f"clip_lora: layer {i} does not exist; the {tower} tower has "
                                      f"{len(blocks)} layers (0..{len(blocks) - 1})", field="layers")
                self.adapted.append(_wrap(blocks[i], tower, i, cfg))
        self.register_buffer("tokens", text.tokenize(class_texts(task.template, task.classnames)), persistent=False)
        self._class_cache = EvalCache()

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """The tuned protocol's space: the engine's lr / weight decay / epochs and
        ``dropout`` (CLIP-LoRA run_utils.py --dropout_rate 0.25; bracketed)."""
        from .search_space import Choice

        return {**super().search_space(), "dropout": Choice((0.0, 0.25, 0.5))}

    @classmethod
    def default_training(cls, dataset: str, shots: int) -> dict[str, Any]:
        # lora.py: AdamW(wd 1e-2, betas 0.9/0.999), cosine to 1e-6, no warm-up;
        # run_utils.py: lr 2e-4, batch 32, 500 x shots iterations; main.py:
        # RandomResizedCrop(0.08-1) + flip (the engine's augmentation).
        return {"epochs": clip_lora_epochs(dataset, shots), "lr": 2e-4, "batch_size": 32, "optimizer": "adamw",
                "weight_decay": 1e-2, "warmup_epochs": 0, "min_lr": 1e-6, "augment": True}

    def retarget(self, task: TaskInfo) -> None:
        self._set_task(task)
        text = self.backbone.text
        if self.cfg.encoder == "vision":
            replace_buffer(self, "classifier", template_classifier(text, task.template, task.classnames))
        replace_buffer(self, "tokens", text.tokenize(class_texts(task.template, task.classnames)))
        self._class_cache.clear()

    def class_features(self) -> Tensor:
        if self.cfg.encoder == "vision":
            return self.classifier
        text = self.backbone.text

        def encode() -> Tensor:
            return F.normalize(text.encode_embeddings(text.token_embedding(self.tokens), self.tokens), dim=-1)

        adapters = [p for m in self.adapted for n, p in m.named_parameters() if n.startswith("lora_")]
        return self._class_cache.get(adapters, encode)

    def forward(self, images: Tensor) -> Tensor:
        return cosine_logits(self.backbone.encode_image(images), self.class_features(), self.backbone.logit_scale)

    def train(self, mode: bool = True):
        super().train(mode)  # the frozen tower goes to eval ...
        for module in self.adapted:  # ... but the adapters' dropout follows the method
            module.lora_dropout.train(mode)
        return self


def clip_lora_epochs(dataset: str, shots: int, iterations_per_shot: int = 500, batch_size: int = 32) -> int:
    """Epochs covering the release's budget of ``500 x shots`` iterations at batch 32
    (lora.py ``total_iters = n_iters * shots``), rounded up to whole epochs. An epoch
    over C x shots images has ceil(C x shots / 32) iterations, so this is about
    16,000 / C epochs. A dataset whose class count is not known before loading
    counts as 100 classes."""
    classes = known_num_classes(dataset) or 100
    per_epoch = math.ceil(classes * max(shots, 1) / batch_size)
    return max(1, math.ceil(iterations_per_shot * max(shots, 1) / per_epoch))


def known_num_classes(dataset: str) -> int | None:
    """The class count a registered dataset declares without reading its files."""
    from ..benchmarks import DATASETS
    from ..plugins import UnknownNameError

    try:
        cls = DATASETS.get(dataset)
    except UnknownNameError:
        return None
    declared = getattr(cls, "num_classes", None)
    if isinstance(declared, int):
        return declared
    names = getattr(cls, "classnames", None)
    return len(names) if isinstance(names, (list, tuple)) else None


def _check(cfg: ClipLoRAConfig) -> None:
    if cfg.rank < 1:
        raise ConfigError(f"clip_lora: rank must be >= 1, got {cfg.rank}", field="rank")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"clip_lora: dropout must be in [0, 1), got {cfg.dropout}", field="dropout")
    if cfg.encoder not in ENCODERS:
        raise ConfigError(f"clip_lora: encoder must be one of {', '.join(ENCODERS)}, got '{cfg.encoder}'",
                          field="encoder")
    bad = [t for t in cfg.targets if t not in TARGETS]
    if bad or not cfg.targets:
        raise ConfigError(f"clip_lora: targets must be a non-empty subset of {list(TARGETS)}, got {cfg.targets}",
                          field="targets")


def _wrap(block: nn.Module, tower: str, index: int, cfg: ClipLoRAConfig) -> LoRAAttention:
    attn = getattr(block, "attn", None)
    if isinstance(attn, LoRAAttention):
        raise RuntimeError(f"clip_lora: {tower} layer {index} already carries LoRA adapters; a method that trains "
                           "inside the backbone must be built on a private copy of it")
    if not isinstance(attn, nn.MultiheadAttention):
        raise ValueError(f"clip_lora: {tower} layer {index} has no nn.MultiheadAttention 'attn' "
                         f"(found {type(attn).__name__}); only open_clip's default attention blocks are supported")
    wrapped = LoRAAttention(attn, tuple(dict.fromkeys(cfg.targets)), cfg.rank, cfg.alpha, cfg.dropout)
    block.attn = wrapped
    return wrapped
