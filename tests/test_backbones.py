"""Backbones: real open_clip / timm loading paths, failing offline with a clear
message instead of a retry loop; the prompted forward equals the plain tower."""
from __future__ import annotations

import time

import pytest
import torch

from lore_bench.backbones import BackboneUnavailableError, build_backbone


@pytest.mark.parametrize("name, hint", [("clip_vit_b16_openai", "HF_HUB_OFFLINE"), ("vit_b16_in21k", "HF_HUB_OFFLINE")])
def test_missing_weights_offline_fail_fast_and_say_how(name, hint, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-lb-hf-home")  # an empty cache
    t0 = time.perf_counter()
    with pytest.raises(BackboneUnavailableError) as info:
        build_backbone(name)
    assert time.perf_counter() - t0 < 20
    assert hint in str(info.value)


def test_prompted_forward_without_prompts_is_the_plain_tower(tiny_backbone):
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(tiny_backbone.encode_image(x), tiny_backbone.visual(x), atol=1e-5)
        assert torch.allclose(tiny_backbone.text.encode_texts(["a photo of the digit 1."]),
                              torch.nn.functional.normalize(
                                  tiny_backbone.text.encode_embeddings(
                                      tiny_backbone.text.token_embedding(tiny_backbone.text.tokenize(["a photo of the digit 1."])),
                                      tiny_backbone.text.tokenize(["a photo of the digit 1."])), dim=-1), atol=1e-6)


def test_prompts_enter_after_cls_and_change_the_feature(tiny_backbone):
    x = torch.randn(2, 3, 32, 32)
    d = tiny_backbone.info.width
    prompts = [torch.randn(3, d)] + [torch.randn(3, d) for _ in range(tiny_backbone.info.num_layers - 1)]
    with torch.no_grad():
        pooled, tokens = tiny_backbone.forward_prompted(x, prompts, return_tokens=True)
    assert tokens.shape[1] == 1 + 3 + tiny_backbone.info.num_patches
    assert not torch.allclose(pooled, tiny_backbone.encode_image(x))
