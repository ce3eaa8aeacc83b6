"""OpenAI-tagged backbones run QuickGELU in both CLIP towers (the activation their
weights were trained with), decided by the pretrained tag, and a model built with
the other activation is refused."""
from __future__ import annotations

import pytest

from lore_bench.backbones import NAMED_BACKBONES, BackboneActivationError, build_backbone, needs_quick_gelu
from lore_bench.backbones.activation import check_activation, count_activations


def _openai_named() -> list[str]:
    names = []
    for name, cfg in NAMED_BACKBONES.items():
        tags = [cfg.get("pretrained")] + [(cfg.get("text_tower") or {}).get("pretrained")]
        if "openai" in tags:
            names.append(name)
    return names


OPENAI = _openai_named()
# Each build random-initialises ~150M parameters (seconds on a loaded CPU): ViT-B/16
# runs by default; ViT-B/32 and the timm ViT (same code path) with the slow tests.
PARAMS = [n if n == "clip_vit_b16_openai" else pytest.param(n, marks=pytest.mark.slow) for n in OPENAI]


def test_the_named_openai_backbones_are_the_three_of_the_paper():
    assert sorted(OPENAI) == ["clip_vit_b16_openai", "clip_vit_b32_openai", "vit_b16_in21k"]


@pytest.mark.parametrize("name", PARAMS)
def test_openai_backbones_build_quickgelu_in_both_towers(name):
    # weights=False: the same build path (activation from the tag), random weights, no download.
    backbone = build_backbone(name, weights=False)
    text = count_activations(backbone.text.transformer)
    assert text["quick_gelu"] == backbone.text.num_layers and text["gelu"] == 0
    image = count_activations(backbone.vit if backbone.family == "vit" else backbone.visual)
    if backbone.family == "clip":
        assert image["quick_gelu"] == backbone.info.num_layers and image["gelu"] == 0
    else:  # a supervised timm ViT was trained with GELU: only its CLIP text tower is OpenAI's
        assert image["gelu"] == backbone.info.num_layers and image["quick_gelu"] == 0


def test_the_tag_decides_the_activation():
    assert needs_quick_gelu("ViT-B-16", "openai") and needs_quick_gelu("ViT-B-32", "openai")
    assert not needs_quick_gelu("ViT-B-16", "laion2b_s34b_b88k")
    assert not needs_quick_gelu("ViT-B-16", None)  # random weights keep the architecture's default
    assert needs_quick_gelu("ViT-B-16-quickgelu", None)


def test_a_model_with_the_wrong_activation_is_refused():
    import open_clip

    from lore_bench.backbones import micro_clip

    micro_clip.register_config()
    gelu = open_clip.create_model(micro_clip.ARCH, pretrained=None)
    with pytest.raises(BackboneActivationError, match="QuickGELU"):
        check_activation(gelu, True, "micro-clip / pretend-openai")
    quick = open_clip.create_model(micro_clip.ARCH, pretrained=None, force_quick_gelu=True)
    check_activation(quick, True, "micro-clip / pretend-openai")
    with pytest.raises(BackboneActivationError, match="GELU"):
        check_activation(quick, False, "micro-clip / pretend-laion")


def test_loading_openai_weights_asks_open_clip_for_quickgelu(monkeypatch):
    """The weights path (not only weights=False) passes the tag's activation to open_clip."""
    import open_clip

    from lore_bench import backbones
    from lore_bench.backbones import micro_clip

    micro_clip.register_config()
    real_create_model, calls = open_clip.create_model, []

    def fake_create_model(arch, pretrained=None, force_quick_gelu=False, **kw):
        calls.append((arch, pretrained, force_quick_gelu))  # a micro model stands in for the download
        return real_create_model(micro_clip.ARCH, pretrained=None, force_quick_gelu=force_quick_gelu)

    monkeypatch.setattr(open_clip, "create_model", fake_create_model)
    monkeypatch.setattr(backbones, "_open_clip_cached", lambda arch, tag: True)
    model, _ = backbones._open_clip_model("ViT-B-16", "openai")
    assert calls == [("ViT-B-16", "openai", True)]
    assert count_activations(model.visual)["gelu"] == 0
