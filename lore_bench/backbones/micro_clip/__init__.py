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
            "`python -m tools.micro_clip.pretrain`"
        )
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    model.load_state_dict(expand_token_embedding(state, model.token_embedding.num_embeddings), strict=True)


#: Key of the BPE ids of the rows a trimmed token table keeps.
TOKEN_IDS_KEY = "token_embedding.token_ids"


def trim_token_embedding(state: dict, token_ids) -> dict:
    """Keep only the token table rows of ``token_ids`` (sorted BPE ids). Pretraining
    captions use ~100 of the 49,408 tokens; the rest would be most of the file."""
    import torch

    ids = torch.as_tensor(token_ids, dtype=torch.int64)
    out = dict(state)
    if out["token_embedding.weight"].shape[0] != len(ids):  # a full table: pick the rows
        out["token_embedding.weight"] = out["token_embedding.weight"][ids]
    out[TOKEN_IDS_KEY] = ids.to(torch.int32)
    return out


def expand_token_embedding(state: dict, vocab_size: int) -> dict:
    """Inverse of :func:`trim_token_embedding`: a full table in which tokens never
    trained share the mean trained row, a neutral stand-in for unseen words."""
    if TOKEN_IDS_KEY not in state:
        return state
    out = dict(state)
    ids = out.pop(TOKEN_IDS_KEY).long()
    rows = out["token_embedding.weight"]
    full = rows.mean(0, keepdim=True).repeat(vocab_size, 1)
    full[ids] = rows
    out["token_embedding.weight"] = full
    return out
