"""timm vanilla ViTs as :class:`Backbone`; an optional CLIP text tower is attached
for methods that need class-name knowledge (LORE's KLA on a supervised ViT)."""
from __future__ import annotations

from torch import Tensor, nn

from .base import Backbone, ImageTowerInfo, TextTower


class TimmVitBackbone(Backbone):
    family = "vit"

    def __init__(self, name: str, vit: nn.Module, text: TextTower | None = None):
        if not hasattr(vit, "blocks") or not hasattr(vit, "patch_embed"):
            raise ValueError(f"backbone '{name}': not a timm VisionTransformer")
        if getattr(vit, "global_pool", "token") != "token":
            raise ValueError(f"backbone '{name}': only CLS-token pooled ViTs are supported")
        cfg = vit.pretrained_cfg or {}
        size = vit.patch_embed.img_size
        patch = vit.patch_embed.patch_size
        info = ImageTowerInfo(
            image_size=int(size[0]),
            patch_size=int(patch[0]),
            grid=tuple(int(g) for g in vit.patch_embed.grid_size),
            width=vit.embed_dim,
            num_layers=len(vit.blocks),
            feature_dim=vit.num_features,
            num_prefix_tokens=vit.num_prefix_tokens,
            mean=tuple(cfg.get("mean", (0.5, 0.5, 0.5))),
            std=tuple(cfg.get("std", (0.5, 0.5, 0.5))),
        )
        # A supervised ViT has no learned temperature; CLIP's 100 keeps the
        # cosine-classifier logits on the scale CLIP-style heads expect.
        super().__init__(name, info, text, 100.0)
        self.vit = vit

    def patch_embed(self, images: Tensor) -> Tensor:
        x = self.vit.patch_embed(images.to(next(self.vit.patch_embed.parameters()).dtype))  # fp16_pure: half weights
        return x.flatten(1, 2) if x.dim() == 4 else x

    def embed(self, images: Tensor) -> Tensor:
        return self.vit._pos_embed(self.patch_embed(images))

    def pre_norm(self, tokens: Tensor) -> Tensor:
        return self.vit.norm_pre(tokens)

    def blocks(self):
        return self.vit.blocks

    def pool(self, tokens: Tensor) -> Tensor:
        return self.vit.forward_head(self.vit.norm(tokens), pre_logits=True)

    def final_norm(self, tokens: Tensor) -> Tensor:
        return self.vit.norm(tokens)
