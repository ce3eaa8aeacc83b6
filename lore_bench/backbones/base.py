"""What methods need from a frozen pre-trained backbone.

Two families sit behind one interface:
- CLIP (open_clip): image tower + text tower, classifier from text embeddings;
- vanilla ViT (timm): image tower only; a CLIP text tower can be attached for
  methods that need class-name knowledge (LORE's KLA, docs/lore.md).

The image tower is exposed token-wise so prompt methods (VPT, MaPLe, LORE) can
insert tokens after CLS at every layer without patching the backbone module:
:meth:`Backbone.forward_prompted` is the single place that knows each family's
block layout.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class ImageTowerInfo:
    image_size: int
    patch_size: int
    grid: tuple[int, int]  # patches (rows, cols)
    width: int  # token width D
    num_layers: int
    feature_dim: int  # size of encode_image's output
    num_prefix_tokens: int  # CLS (+ register) tokens before the patches
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]


class TextTower(nn.Module):
    """Frozen open_clip text tower with the hooks prompt-learning methods need."""

    def __init__(self, clip_model: nn.Module, tokenizer):
        super().__init__()
        self.token_embedding = clip_model.token_embedding
        self.positional_embedding = clip_model.positional_embedding
        self.transformer = clip_model.transformer
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.register_buffer("attn_mask", clip_model.attn_mask, persistent=False)
        self.pool_type = getattr(clip_model, "text_pool_type", "argmax")
        self.tokenizer = tokenizer
        self.width = self.token_embedding.embedding_dim
        self.context_length = self.positional_embedding.shape[0]
        self.num_layers = len(self.transformer.resblocks)
        self.embed_dim = (
            self.text_projection.out_features
            if isinstance(self.text_projection, nn.Linear)
            else self.text_projection.shape[1]
        )

    def tokenize(self, texts: Sequence[str]) -> Tensor:
        return self.tokenizer(list(texts)).to(self.token_embedding.weight.device)

    def eot_positions(self, tokens: Tensor) -> Tensor:
        # open_clip's 'argmax' pooling: the end-of-text token has the largest id.
        return tokens.argmax(dim=-1)

    def encode_embeddings(
        self,
        embeddings: Tensor,
        tokens: Tensor,
        deep_prompts: Sequence[Tensor | None] | None = None,
        prompt_start: int = 1,
    ) -> Tensor:
        """Run the text transformer on token embeddings [N, L, W] (e.g. with learned
        context vectors spliced in) and return projected features [N, E].

        ``deep_prompts[i]`` ([n, W] or [N, n, W]), when given for layer i >= 1,
        replaces positions ``prompt_start : prompt_start + n`` before layer i
        (MaPLe-style deep text prompts).

        The mask is causal, so positions after the last end-of-text token cannot
        change any end-of-text feature: the sequence is cut there (exact, and
        2-3x less work for short prompts in a 77-token context)."""
        eot = self.eot_positions(tokens)
        length = int(eot.max()) + 1
        if deep_prompts is not None:
            deepest = max((prompt_start + p.shape[-2] for p in deep_prompts if p is not None), default=0)
            length = max(length, deepest)
        length = min(length, embeddings.shape[1])
        x = embeddings[:, :length] + self.positional_embedding[:length].to(embeddings.dtype)
        mask = self.attn_mask[:length, :length] if self.attn_mask is not None else None
        for i, block in enumerate(self.transformer.resblocks):
            if deep_prompts is not None and i > 0 and i < len(deep_prompts) and deep_prompts[i] is not None:
                p = deep_prompts[i]
                p = p.expand(x.shape[0], -1, -1) if p.dim() == 2 else p
                n = p.shape[1]
                x = torch.cat([x[:, :prompt_start], p.to(x.dtype), x[:, prompt_start + n :]], dim=1)
            x = block(x, attn_mask=mask)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot]
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(x)
        return x @ self.text_projection

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], normalize: bool = True) -> Tensor:
        tokens = self.tokenize(texts)
        feats = self.encode_embeddings(self.token_embedding(tokens), tokens)
        return nn.functional.normalize(feats, dim=-1) if normalize else feats


class Backbone(nn.Module):
    """A frozen backbone. Subclasses fill ``info`` and implement the token hooks."""

    #: "clip" (open_clip image + text tower) or "vit" (timm image tower)
    family: str = ""

    def __init__(self, name: str, info: ImageTowerInfo, text: TextTower | None, logit_scale: float):
        super().__init__()
        self.name = name
        self.info = info
        self.text = text
        self.logit_scale = logit_scale

    # -- image tower hooks (implemented per family) ---------------------------
    def patch_embed(self, images: Tensor) -> Tensor:
        """Patch embeddings [B, P, D] straight from the patch conv (no CLS, no pos)."""
        raise NotImplementedError

    def embed(self, images: Tensor) -> Tensor:
        """Tokens [B, prefix + P, D] with positional embedding, before the pre-norm."""
        raise NotImplementedError

    def pre_norm(self, tokens: Tensor) -> Tensor:
        raise NotImplementedError

    def blocks(self) -> Sequence[nn.Module]:
        raise NotImplementedError

    def pool(self, tokens: Tensor) -> Tensor:
        """Final tokens [B, T, D] -> image feature [B, feature_dim] (norm, CLS, proj)."""
        raise NotImplementedError

    def final_norm(self, tokens: Tensor) -> Tensor:
        """The tower's final norm applied token-wise (for patch features)."""
        raise NotImplementedError

    # -- shared logic ----------------------------------------------------------
    @property
    def has_text(self) -> bool:
        return self.text is not None

    def encode_image(self, images: Tensor) -> Tensor:
        return self.forward_prompted(images, None)

    def forward_prompted(
        self,
        images: Tensor,
        prompts: Sequence[Tensor | None] | None,
        return_tokens: bool = False,
    ):
        """Image features with prompt tokens inserted after the prefix (CLS) tokens.

        ``prompts[0]`` ([B, n, D] or [n, D]) is inserted after the positional
        embedding and before the pre-norm (prompts carry no positional embedding);
        ``prompts[i]`` for i >= 1, when not None, replaces the n prompt slots before
        block i (deep prompting). With ``prompts=None`` this is the plain tower.
        With ``return_tokens`` also returns the final tokens [B, T, D] (before the
        final norm), so callers can strip prompts and read patch features."""
        x = self.embed(images)
        prefix = self.info.num_prefix_tokens
        n = 0
        if prompts is not None and len(prompts) > 0 and prompts[0] is not None:
            p = _batched(prompts[0], x.shape[0]).to(x.dtype)
            n = p.shape[1]
            x = torch.cat([x[:, :prefix], p, x[:, prefix:]], dim=1)
        x = self.pre_norm(x)
        for i, block in enumerate(self.blocks()):
            if i > 0 and prompts is not None and i < len(prompts) and prompts[i] is not None:
                p = _batched(prompts[i], x.shape[0]).to(x.dtype)
                if p.shape[1] != n:
                    raise ValueError(f"layer {i} gives {p.shape[1]} prompts, layer 0 gave {n}")
                x = torch.cat([x[:, :prefix], p, x[:, prefix + n :]], dim=1)
            x = block(x)
        pooled = self.pool(x)
        return (pooled, x) if return_tokens else pooled

    def train(self, mode: bool = True):
        # A frozen backbone stays in eval mode (dropout, drop-path off) whatever
        # the method around it does.
        return super().train(False)

    def freeze(self) -> "Backbone":
        self.requires_grad_(False)
        self.eval()
        return self

    def require_text(self, method: str) -> TextTower:
        if self.text is None:
            raise ValueError(
                f"method '{method}' needs a CLIP text tower, and backbone '{self.name}' has none; "
                "use a CLIP backbone, or attach one with 'text_tower:' in the backbone config"
            )
        return self.text


def _batched(p: Tensor, batch: int) -> Tensor:
    return p.unsqueeze(0).expand(batch, -1, -1) if p.dim() == 2 else p
