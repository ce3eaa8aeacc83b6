"""Which MLP activation an open_clip checkpoint needs (GELU or QuickGELU), and the
check that a built model really uses it in both towers.

OpenAI's CLIP weights (and a few other tags) were trained with QuickGELU
(x * sigmoid(1.702 x)). open_clip 3.3.0 builds ``create_model("ViT-B-16",
pretrained="openai")`` with ``nn.GELU`` and only warns; lore-bench derives the
activation from the pretrained tag instead and refuses to run a model whose
activation contradicts it (docs/methods.md, "Backbones").
"""
from __future__ import annotations

from collections import Counter

from torch import nn


class BackboneActivationError(ValueError):
    """A model was built with an activation its pretrained weights were not trained with."""


def needs_quick_gelu(arch: str, pretrained: str | None) -> bool:
    """True when ``arch`` with the pretrained tag ``pretrained`` must run QuickGELU.

    The tag's pretrained config decides (open_clip records ``quick_gelu`` there,
    e.g. every ``openai`` tag); a tag that says nothing, a weights file or no
    weights keep the architecture's own setting (``*-quickgelu`` archs)."""
    import open_clip
    from open_clip.factory import get_model_config

    tag_cfg = open_clip.get_pretrained_cfg(arch, pretrained) if pretrained else {}
    if tag_cfg and "quick_gelu" in tag_cfg:
        return bool(tag_cfg["quick_gelu"])
    return bool((get_model_config(arch) or {}).get("quick_gelu", False))


def count_activations(module: nn.Module) -> Counter:
    """Activation modules in ``module`` by kind: ``quick_gelu`` and ``gelu``."""
    from open_clip.transformer import QuickGELU

    kinds: Counter = Counter()
    for m in module.modules():
        if isinstance(m, QuickGELU):
            kinds["quick_gelu"] += 1
        elif isinstance(m, nn.GELU):
            kinds["gelu"] += 1
    return kinds


def clip_towers(model: nn.Module) -> dict[str, nn.Module]:
    """The image and text transformer of an open_clip CLIP model."""
    towers = {"image": model.visual}
    towers["text"] = model.text if hasattr(model, "text") else model.transformer
    return towers


def check_activation(model: nn.Module, quick_gelu: bool, what: str) -> None:
    """Raise unless every activation of both towers is the one the weights need."""
    want, wrong = ("quick_gelu", "gelu") if quick_gelu else ("gelu", "quick_gelu")
    for tower, module in clip_towers(model).items():
        kinds = count_activations(module)
        if kinds[wrong] or not kinds[want]:
            raise BackboneActivationError(
                f"backbone '{what}': its {tower} tower has {dict(kinds) or 'no GELU modules'}, but its weights "
                f"need {'QuickGELU' if quick_gelu else 'GELU'} everywhere; build it with "
                f"force_quick_gelu={quick_gelu} (lore_bench.backbones does this from the pretrained tag)"
            )
