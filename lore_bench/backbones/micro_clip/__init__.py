"""micro-CLIP: a small open_clip CLIP that lore-bench pretrains and ships itself.

The architecture is an open_clip model config (``micro-clip.json``); weights are
named by a pretrained tag like any open_clip checkpoint. ``load_pretrained``
loads a shipped tag's weights into a model built by ``open_clip.create_model``.
"""
from __future__ import annotations

from pathlib import Path

ARCH = "micro-clip"
HERE = Path(__file__).parent
#: pretrained tag -> weights file shipped in this folder
PRETRAINED: dict[str, str] = {"lore-bench-v1": "lore-bench-v1.safetensors"}

_registered = False


def register_config() -> None:
    """Make ``micro-clip`` known to open_clip (idempotent)."""
    global _registered
    if _registered:
        return
    import open_clip

    open_clip.add_model_config(HERE / f"{ARCH}.json")
    _registered = True


def weights_path(tag: str) -> Path:
    if tag not in PRETRAINED:
        raise ValueError(f"unknown micro-clip pretrained tag '{tag}'; known: {', '.join(PRETRAINED)}")
    return HERE / PRETRAINED[tag]


def load_pretrained(model, tag: str) -> None:
    from safetensors.torch import load_file

    path = weights_path(tag)
    if not path.exists():
        raise FileNotFoundError(
            f"micro-clip weights '{path.name}' are not in {HERE}; pretrain them with "
            "`python -m lore_bench.backbones.micro_clip.pretrain`"
        )
    state = load_file(str(path))
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
