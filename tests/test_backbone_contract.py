"""The backbone contract (docs/plugins.md, "The backbone contract"), checked on
a random-init tiny model of every registered backbone family and of the example
family in examples/: what prompt methods, feature-caching methods and LORE's
White Box call. A family registered without a tiny configuration here fails,
so a new family cannot skip the contract."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import TESTS_DIR
from lore_bench.backbones import BACKBONE_TYPES, Backbone, build_backbone

#: family (BACKBONE_TYPES name) -> a tiny random-init config of it
TINY = {
    "open_clip": {"type": "open_clip", "arch": "micro-clip", "pretrained": None},
    "timm": {"type": "timm", "arch": "vit_tiny_patch16_224", "pretrained": False},
}
EXAMPLE = {"plugin": "clip_family_backbone:build", "arch": "tiny", "name": "example_tiny_clip"}


def _families():
    return [pytest.param(name, id=name) for name in BACKBONE_TYPES.names()] + [pytest.param("example", id="example")]


@pytest.fixture
def backbone(request, monkeypatch):
    name = request.param
    if name == "example":
        monkeypatch.syspath_prepend(str(Path(TESTS_DIR).parent / "examples"))
        return build_backbone(EXAMPLE)
    if name not in TINY:
        pytest.fail(f"backbone family '{name}' is registered but has no tiny config in {__file__}: add one")
    return build_backbone(TINY[name])


@pytest.mark.parametrize("backbone", _families(), indirect=True)
def test_backbone_contract(backbone):
    info = backbone.info
    assert isinstance(backbone, Backbone) and not backbone.training
    assert not any(p.requires_grad for p in backbone.parameters())  # built frozen
    # preprocessing the engine builds its transforms from
    assert info.image_size > 0 and info.image_size % info.patch_size == 0
    assert info.grid == (info.image_size // info.patch_size,) * 2
    assert len(info.mean) == len(info.std) == 3 and all(0 < s <= 1 for s in info.std)
    assert len(backbone.blocks()) == info.num_layers
    b, d, p, prefix = 2, info.width, info.num_patches, info.num_prefix_tokens
    images = torch.rand(b, 3, info.image_size, info.image_size)
    with torch.no_grad():
        assert backbone.patch_embed(images).shape == (b, p, d)  # LORE's LIN reads these
        assert backbone.embed(images).shape == (b, prefix + p, d)
        plain = backbone.encode_image(images)
        assert plain.shape == (b, info.feature_dim)
        plain_again, tokens = backbone.forward_prompted(images, None, return_tokens=True)
        assert torch.equal(plain, plain_again) and tokens.shape == (b, prefix + p, d)
        assert backbone.pool(tokens).shape == (b, info.feature_dim)
        assert backbone.final_norm(tokens).shape == tokens.shape
    # token hooks: shallow prompts, then deep prompts replacing them before every block
    prompts = torch.randn(3, d, requires_grad=True)
    deep = [prompts] + [torch.randn(b, 3, d) for _ in range(info.num_layers - 1)]
    out, tokens = backbone.forward_prompted(images, deep, return_tokens=True)
    assert out.shape == (b, info.feature_dim) and tokens.shape == (b, prefix + 3 + p, d)
    assert not torch.allclose(out, plain)
    # A random readout: the plain sum of a LayerNorm'd output (timm's pooled features) is constant,
    # so its gradient is zero up to rounding and the check below passed or failed by chance.
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(0))).sum().backward()
    assert prompts.grad is not None and prompts.grad.abs().sum() > 0  # prompts are trainable through the tower
    if info.num_layers > 1:
        with pytest.raises(ValueError, match="prompts"):
            backbone.forward_prompted(images, [prompts, torch.randn(2, d)])
    assert not any(p.requires_grad for p in backbone.parameters())
    if backbone.has_text:  # CLIP: the text tower shares the image features' space
        text = backbone.text.encode_texts(["a photo of a cat.", "a photo of a dog."])
        assert text.shape == (2, backbone.text.embed_dim) and backbone.text.embed_dim == info.feature_dim
        assert torch.allclose(text.norm(dim=-1), torch.ones(2), atol=1e-4)
        assert backbone.logit_scale > 0
