"""Shared pieces of the CLIP prompt/adapter baselines (not a method: the leading
underscore keeps the registry from importing it as one).

- the released training budgets (recipes/dassl.py, re-exported);
- the hand-crafted-template classifier and CLIP's cosine logits;
- :class:`ClassPrompts`: per-class token embeddings of "<context> <classname>."
  with ``n_ctx`` slots after [SOS] that learned context vectors fill in.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..backbones.base import TextTower
from .recipes.dassl import coop_epochs, dassl_training, dataset_key, is_imagenet  # noqa: F401 (re-exported)

# -- hand-crafted classifier ------------------------------------------------------


def class_texts(template: str, classnames: Sequence[str], keep_underscores: bool = False) -> list[str]:
    # Dassl datasets name classes with underscores; the prompts never did (LORE's
    # release kept them in some lists: keep_underscores).
    return [template.format(c if keep_underscores else c.replace("_", " ")) for c in classnames]


@torch.no_grad()
def template_classifier(text: TextTower, template: str, classnames: Sequence[str], chunk: int = 256,
                        keep_underscores: bool = False) -> Tensor:
    """Normalised text embeddings [C, E] of the hand-crafted prompts (zero-shot CLIP)."""
    texts = class_texts(template, classnames, keep_underscores)
    parts = [text.encode_texts(texts[i : i + chunk]) for i in range(0, len(texts), chunk)]
    return torch.cat(parts).float()


def replace_buffer(module: nn.Module, name: str, value: Tensor) -> None:
    """Swap a derived (non-persistent) buffer for one of another shape, on the old one's device."""
    old = getattr(module, name)
    module.register_buffer(name, value.to(old.device), persistent=False)


def cosine_logits(image_features: Tensor, class_features: Tensor, scale: float) -> Tensor:
    """CLIP's logits: scale * cos(image, class). ``class_features`` [C, E] or [B, C, E]."""
    img = F.normalize(image_features, dim=-1)
    cls = F.normalize(class_features, dim=-1).to(img.dtype)
    if cls.dim() == 3:
        return scale * torch.einsum("be,bce->bc", img, cls)
    return scale * img @ cls.t()


# -- learned context ---------------------------------------------------------------


def _word_ids(text: TextTower, words: str) -> Tensor:
    tokens = text.tokenize([words])[0]
    end = int(tokens.argmax())  # EOT has the largest id
    return tokens[1:end]


@torch.no_grad()
def random_context(text: TextTower, n_ctx: int, std: float = 0.02) -> tuple[str, Tensor]:
    """CoOp's generic context: placeholders "X X ... X", vectors ~ N(0, std)."""
    init = torch.empty(n_ctx, text.width)
    nn.init.normal_(init, std=std)
    return " ".join(["X"] * n_ctx), init


@torch.no_grad()
def word_context(text: TextTower, words: str, n_ctx: int) -> tuple[str, Tensor]:
    """Context initialised from the token embeddings of ``words``.

    Fewer tokens than ``n_ctx``: zero vectors ("X" placeholders) first and the
    words right-aligned before the class name (ProGrad). More tokens: the first
    ``n_ctx`` are learned, the rest stay fixed prompt text (MaPLe learns "a photo"
    of "a photo of a"). Token counts, not word counts, so multi-token words fit."""
    words = " ".join(words.replace("_", " ").split())
    if not words:
        return random_context(text, n_ctx)
    ids = _word_ids(text, words)
    emb = text.token_embedding(ids).float().cpu()
    m = emb.shape[0]
    if m >= n_ctx:
        return words, emb[:n_ctx].clone()
    pad = torch.zeros(n_ctx - m, emb.shape[1])
    return " ".join(["X"] * (n_ctx - m) + [words]), torch.cat([pad, emb])


@torch.no_grad()
def counted_word_context(text: TextTower, words: str, n_ctx: int) -> tuple[str, Tensor]:
    """ProGrad's context init: the words are *counted* (split on spaces), zero vectors
    fill the first ``n_ctx - #words`` slots and the first ``#words`` token embeddings
    of ``words`` the rest; tokens beyond that (a comma is a token of its own) stay
    fixed prompt text before the class name. "a type of flower, a photo of a" is 8
    words and 9 tokens: 8 zeros + 8 learned vectors, then the fixed "a"."""
    words = " ".join(words.replace("_", " ").split())
    n_words = len(words.split(" ")) if words else 0
    if n_words > n_ctx:
        raise ValueError(f"the context init '{words}' has {n_words} words, more than n_ctx={n_ctx}")
    if not n_words:
        return random_context(text, n_ctx)
    emb = text.token_embedding(_word_ids(text, words)).float().cpu()
    pad = torch.zeros(n_ctx - n_words, emb.shape[1])
    prefix = " ".join(["X"] * (n_ctx - n_words) + [words])
    return prefix, torch.cat([pad, emb[:n_words]])


class ClassPrompts(nn.Module):
    """Token embeddings of "<prefix> <classname>." for every class, split around
    the ``n_ctx`` context slots right after [SOS]; the frozen parts are buffers
    (not saved: they follow from the backbone and the class names)."""

    def __init__(self, text: TextTower, classnames: Sequence[str], prefix: str, n_ctx: int):
        super().__init__()
        self.text = [text]  # a list: keep the frozen tower out of this module's children
        self.n_ctx, self.prefix = n_ctx, prefix
        tokens = text.tokenize([f"{prefix} {c.replace('_', ' ')}." for c in classnames])
        with torch.no_grad():
            emb = text.token_embedding(tokens).float()
        self.register_buffer("tokens", tokens, persistent=False)
        self.register_buffer("sos", emb[:, :1], persistent=False)
        self.register_buffer("rest", emb[:, 1 + n_ctx :], persistent=False)

    def for_classes(self, classnames: Sequence[str]) -> "ClassPrompts":
        """The same prompt layout for other class names, on this module's device (retarget)."""
        return ClassPrompts(self.text[0], classnames, self.prefix, self.n_ctx).to(self.tokens.device)

    def embed(self, ctx: Tensor) -> Tensor:
        """[C, L, W] prompt embeddings from a shared ``ctx`` [n, W] or per-class [C, n, W]."""
        n_cls = self.tokens.shape[0]
        ctx = ctx.unsqueeze(0).expand(n_cls, -1, -1) if ctx.dim() == 2 else ctx
        return torch.cat([self.sos.to(ctx.dtype), ctx, self.rest.to(ctx.dtype)], dim=1)

    def encode(self, ctx: Tensor, deep_prompts: Sequence[Tensor | None] | None = None) -> Tensor:
        """Normalised class embeddings [C, E] for the context ``ctx``."""
        feats = self.text[0].encode_embeddings(self.embed(ctx), self.tokens, deep_prompts=deep_prompts)
        return F.normalize(feats, dim=-1)

    def encode_per_sample(self, ctx: Tensor, max_sequences: int = 1024) -> Tensor:
        """Per-sample contexts [B, n, W] -> normalised class embeddings [B, C, E]
        (CoCoOp), encoding several samples' prompts per text-tower call."""
        n_cls, (batch, n, width) = self.tokens.shape[0], ctx.shape
        group = max(1, max_sequences // n_cls)
        out = []
        for i in range(0, batch, group):
            c = ctx[i : i + group]
            g = c.shape[0]
            emb = torch.cat(
                [
                    self.sos.to(c.dtype).repeat(g, 1, 1),
                    c.unsqueeze(1).expand(g, n_cls, n, width).reshape(g * n_cls, n, width),
                    self.rest.to(c.dtype).repeat(g, 1, 1),
                ],
                dim=1,
            )
            feats = self.text[0].encode_embeddings(emb, self.tokens.repeat(g, 1))
            out.append(F.normalize(feats, dim=-1).view(g, n_cls, -1))
        return torch.cat(out)


class EvalCache:
    """Holds a value computed from parameters while no gradient is recorded
    (evaluation), so a prompt method encodes its class prompts once per
    evaluation, not once per batch. The key changes whenever a parameter is
    updated in place (optimizer step, state loading) or moved."""

    def __init__(self):
        self._key: Any = None
        self._value: Any = None

    def clear(self) -> None:
        """Forget the value (its inputs changed other than through the parameters: retarget)."""
        self._key, self._value = None, None

    def get(self, params: Sequence[Tensor], compute):
        if torch.is_grad_enabled():
            return compute()
        key = (
            tuple((p.device, p.data_ptr(), p._version) for p in params),
            torch.is_autocast_enabled(params[0].device.type) if params else False,
        )
        if key != self._key:
            self._key, self._value = None, None  # free the old value before computing
            self._value, self._key = compute(), key
        return self._value
