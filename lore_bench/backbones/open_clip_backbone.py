"""open_clip CLIP models as :class:`Backbone` (image tower token hooks + text tower)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Backbone, ImageTowerInfo, TextTower


class OpenClipBackbone(Backbone):
    family = "clip"

    def __init__(self, name: str, clip_model: nn.Module, tokenizer):
        visual = clip_model.visual
        if not hasattr(visual, "conv1"):
            raise ValueError(f"backbone '{name}': only ViT image towers are supported")
        if getattr(visual, "attn_pool", None) is not None or getattr(visual, "final_ln_after_pool", False):
            raise ValueError(f"backbone '{name}': attention-pooled towers are not supported")
        size = visual.image_size
        size = size[0] if isinstance(size, (tuple, list)) else int(size)
        patch = visual.patch_size
        patch = patch[0] if isinstance(patch, (tuple, list)) else int(patch)
        grid = visual.grid_size
        width = visual.conv1.out_channels
        info = ImageTowerInfo(
            image_size=size,
            patch_size=patch,
            grid=(int(grid[0]), int(grid[1])),
            width=width,
            num_layers=len(visual.transformer.resblocks),
            feature_dim=visual.proj.shape[1] if visual.proj is not None else width,
            num_prefix_tokens=1,
            mean=tuple(getattr(visual, "image_mean", None) or (0.48145466, 0.4578275, 0.40821073)),
            std=tuple(getattr(visual, "image_std", None) or (0.26862954, 0.26130258, 0.27577711)),
        )
        text = TextTower(clip_model, tokenizer)
        super().__init__(name, info, text, float(clip_model.logit_scale.exp().item()))
        self.visual = visual

    def patch_embed(self, images: Tensor) -> Tensor:
        x = self.visual.conv1(images.to(self.visual.conv1.weight.dtype))
        return x.flatten(2).transpose(1, 2)

    def embed(self, images: Tensor) -> Tensor:
        x = self.patch_embed(images)
        cls = self.visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1)
        return x + self.visual.positional_embedding.to(x.dtype)

    def pre_norm(self, tokens: Tensor) -> Tensor:
        return self.visual.ln_pre(tokens)

    def blocks(self):
        return self.visual.transformer.resblocks

    def pool(self, tokens: Tensor) -> Tensor:
        cls = self.visual.ln_post(tokens[:, 0])
        return cls @ self.visual.proj if self.visual.proj is not None else cls

    def final_norm(self, tokens: Tensor) -> Tensor:
        return self.visual.ln_post(tokens)
