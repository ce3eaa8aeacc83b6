"""Example plugin (docs/plugins.md): a backbone family, here CLIPs built by open_clip.

A builder ``build(cfg) -> Backbone``. ``cfg`` is the suite's backbone entry
(``name`` is filled in by lore-bench). ``arch`` / ``pretrained`` name any
open_clip model (SigLIP, EVA-CLIP, MetaCLIP ... on a machine with the weights);
``arch: tiny`` builds a small random-weight CLIP in place, offline (what the
tests use). ``OpenClipBackbone`` exposes the token hooks prompt methods need.

In a suite: ``backbones: [{plugin: "clip_family_backbone:build", arch: tiny, name: tiny_clip}]``
"""
from __future__ import annotations

#: a 2-layer, 32 px CLIP of about 3.5M parameters (mostly the token embedding)
TINY = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def build(cfg: dict):
    import open_clip
    import torch

    from lore_bench.backbones import needs_quick_gelu
    from lore_bench.backbones.open_clip_backbone import OpenClipBackbone

    arch, tag = cfg.get("arch", "tiny"), cfg.get("pretrained")
    if arch == "tiny":
        with torch.random.fork_rng(devices=[]):  # the same random tower in every process
            torch.manual_seed(0)
            model = open_clip.CLIP(**TINY)
        tokenizer = open_clip.get_tokenizer("ViT-B-32")  # CLIP's BPE, shipped with open_clip
    else:
        # OpenAI's weights were trained with QuickGELU; open_clip does not infer it from the tag.
        model = open_clip.create_model(arch, pretrained=tag, force_quick_gelu=needs_quick_gelu(arch, tag))
        tokenizer = open_clip.get_tokenizer(arch)
    return OpenClipBackbone(cfg["name"], model.eval(), tokenizer)
