"""The feature-extractor contract of the frozen-feature tasks.

Retrieval, correspondence and video segmentation only read features, so they
are written against this small contract rather than against a backbone:

- inputs are RGB float tensors in [0, 1], shape (B, 3, H, W) of any size; the
  extractor normalises them itself (so a task never has to know which mean/std a
  backbone wants, and a test oracle can read plain colours);
- ``cls(x) -> (B, D)``: the CLS token;
- ``patches(x) -> (B, h, w, D)``: the patch tokens in raster order, with CLS,
  register tokens and **every prompt token removed** (VPT/LORE prompts sit
  between the prefix tokens and the patches);
- ``patch_size`` (pixels per patch) and ``image_size`` (the native input size).

Both come from block ``layer`` (0-based; -1 = last) and, with ``final_norm``, after
the tower's final norm and before any projection (DINO's choice; Walmer et al.
read the raw block output: ``final_norm=False``).

A trained LORE White Box (or any prompt method) plugs in as a *prompt source*:
any object with ``prompts_for(images) -> list[Tensor | None]``. It receives the
*normalised* tensor the backbone sees and returns the per-layer prompts of
:meth:`Backbone.forward_prompted` (entry 0: [B, n, D] or [n, D], inserted after
the prefix; entry i >= 1 replaces the n slots before block i).
"""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

#: Named normalisations; "backbone" (the default) uses the backbone's own mean/std.
NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # DINO's eval_video_segmentation.py uses 0.228 for the red std (sic).
    "dino": ((0.485, 0.456, 0.406), (0.228, 0.224, 0.225)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    "half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


@runtime_checkable
class PromptSource(Protocol):
    """What the frozen tasks need from a trained White Box (e.g. LORE's LIN + PG)."""

    def prompts_for(self, images: Tensor) -> Sequence[Tensor | None]: ...


class FeatureExtractor:
    """CLS and patch features of a frozen :class:`Backbone`, optionally prompted."""

    def __init__(
        self,
        backbone,
        *,
        layer: int = -1,
        final_norm: bool = True,
        white_box: PromptSource | None = None,
        normalize: str | tuple = "backbone",
        device: str | torch.device = "cpu",
    ):
        info = backbone.info
        depth = layer + 1 if layer >= 0 else info.num_layers + layer + 1
        if not 1 <= depth <= info.num_layers:
            raise ValueError(f"layer {layer} is outside the {info.num_layers} blocks of '{backbone.name}'")
        if white_box is not None and not callable(getattr(white_box, "prompts_for", None)):
            raise TypeError("white_box must have a method prompts_for(images) -> list of per-layer prompts")
        self.backbone, self.depth, self.final_norm, self.white_box = backbone, depth, final_norm, white_box
        self.device = torch.device(device)
        self.patch_size, self.image_size = info.patch_size, info.image_size
        if isinstance(normalize, str) and normalize not in NORMALIZATIONS and normalize != "backbone":
            raise ValueError(f"unknown normalize '{normalize}'; known: backbone, {', '.join(NORMALIZATIONS)}, [mean, std]")
        mean, std = (info.mean, info.std) if normalize == "backbone" else (
            NORMALIZATIONS[normalize] if isinstance(normalize, str) else normalize
        )
        self._mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)

    def cls(self, images: Tensor) -> Tensor:
        return self.tokens(images)[0]

    def patches(self, images: Tensor) -> Tensor:
        return self.tokens(images)[1]

    @torch.no_grad()
    def tokens(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(CLS [B, D], patches [B, h, w, D]) from one forward pass."""
        x = (images.to(self.device, torch.float32) - self._mean) / self._std
        prompts = None
        if self.white_box is not None:
            prompts = list(self.white_box.prompts_for(x))[: self.depth]
        view = _TowerView(self.backbone, self.depth)
        # Reuse the backbone's own forward_prompted (the one place that knows how
        # prompts are inserted) on a view that interpolates positions and stops early.
        _, tokens = type(self.backbone).forward_prompted(view, x, prompts, return_tokens=True)
        if self.final_norm:
            tokens = self.backbone.final_norm(tokens)
        n_prompts = prompts[0].shape[-2] if prompts and prompts[0] is not None else 0
        h, w = x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size
        patches = tokens[:, self.backbone.info.num_prefix_tokens + n_prompts :]
        if patches.shape[1] != h * w:
            raise RuntimeError(f"expected {h}x{w} patch tokens, got {patches.shape[1]}")
        return tokens[:, 0].float(), patches.reshape(x.shape[0], h, w, -1).float()


class _TowerView:
    """A backbone seen by ``forward_prompted``: embeds inputs of any size and runs
    only the first ``depth`` blocks; everything else is the backbone's."""

    def __init__(self, backbone, depth: int):
        self._backbone, self._depth = backbone, depth

    def __getattr__(self, name):
        return getattr(self._backbone, name)

    def blocks(self):
        return list(self._backbone.blocks())[: self._depth]

    def embed(self, images: Tensor) -> Tensor:
        return embed_any_size(self._backbone, images)


def embed_any_size(backbone, images: Tensor) -> Tensor:
    """``backbone.embed`` for inputs other than the native size: the grid part of
    the positional embedding is resized bicubically (DINO's interpolate_pos_encoding)."""
    info = backbone.info
    if tuple(images.shape[-2:]) == (info.image_size, info.image_size):
        return backbone.embed(images)
    h, w = images.shape[-2] // info.patch_size, images.shape[-1] // info.patch_size
    if backbone.family == "clip" and hasattr(backbone, "visual"):
        visual = backbone.visual
        x = backbone.patch_embed(images)  # a strided conv: any size, partial patches dropped
        pos = visual.positional_embedding.to(x.dtype)
        cls = (visual.class_embedding.to(x.dtype) + pos[0]).expand(x.shape[0], 1, -1)
        return torch.cat([cls, x + resize_grid_positions(pos[1:], info.grid, (h, w))], dim=1)
    if backbone.family == "vit" and hasattr(backbone, "vit"):
        vit = backbone.vit
        # The conv directly: timm's PatchEmbed refuses other sizes unless built dynamic.
        x = vit.patch_embed.proj(images.to(vit.patch_embed.proj.weight.dtype)).flatten(2).transpose(1, 2)
        x = vit.patch_embed.norm(x)
        prefix = [t.expand(x.shape[0], -1, -1) for t in (vit.cls_token, vit.reg_token) if t is not None]
        if vit.pos_embed is None:
            return torch.cat(prefix + [x], dim=1)
        pos = vit.pos_embed[0].to(x.dtype)
        n_pre = 0 if vit.no_embed_class else vit.num_prefix_tokens
        grid_pos = resize_grid_positions(pos[n_pre:], info.grid, (h, w))
        if vit.no_embed_class:
            return vit.pos_drop(torch.cat(prefix + [x + grid_pos], dim=1))
        return vit.pos_drop(torch.cat(prefix + [x], dim=1) + torch.cat([pos[:n_pre], grid_pos]))
    raise NotImplementedError(
        f"backbone '{backbone.name}' ({type(backbone).__name__}) only takes {info.image_size}px inputs; "
        "use a preset at its native size"
    )


def resize_grid_positions(pos: Tensor, old: Sequence[int], new: Sequence[int]) -> Tensor:
    """Positional embeddings of a (rows x cols) grid [rows*cols, D] -> a new grid."""
    if tuple(old) == tuple(new):
        return pos
    grid = pos.reshape(1, old[0], old[1], -1).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=tuple(new), mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(new[0] * new[1], -1).to(pos.dtype)


def extractor_from_config(backbone, cfg: dict, device, white_box=None) -> FeatureExtractor:
    """The extractor a task's protocol_config asks for (keys: layer, final_norm, normalize)."""
    return FeatureExtractor(
        backbone,
        layer=int(cfg.get("layer", -1)),
        final_norm=bool(cfg.get("final_norm", True)),
        normalize=cfg.get("normalize", "backbone"),
        white_box=white_box,
        device=device,
    )
