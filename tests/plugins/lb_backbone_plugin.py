"""A third-party backbone family, as a user would write it outside lore-bench: a
small timm ViT at 32 px (random weights), without a text tower."""
from __future__ import annotations

from lore_bench.backbones.timm_backbone import TimmVitBackbone


def build(cfg: dict):
    import timm
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vit = timm.create_model(cfg["arch"], pretrained=False, num_classes=0, img_size=32, patch_size=8)
    return TimmVitBackbone(cfg["name"], vit.eval())
