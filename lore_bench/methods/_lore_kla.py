"""LORE's Knowledge-Locality Attention (KLA), used in training only
(docs/paper/lore.md, "KLA").

The class names' frozen text embeddings q attend over the locality-enhanced
patch features; each class gets one Knowledge-Locality prototype per image.
Two variants, selected by ``kla_variant``:

- ``code`` (default): the authors' release. K, V projections without bias,
  scores ``q K^T * N**0.25`` (their ``sqrt(14)`` for 14 x 14 patches), top-N
  scores kept and the rest set to *zero*, each row rescaled to L2 norm N,
  softmax, times V, output projection.
- ``paper``: our reading of Eq. 5-7: a query projection Wq, scaled dot-product
  scores with the non-top-N entries masked to -inf, then an MLP with a residual
  connection and BatchNorm on the prototypes. The spec gives no widths for the
  MLP; we use D -> D -> D with GELU.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _batched_queries(q: Tensor, batch: int) -> Tensor:
    """q [C, E] (same classes for every image) or [B, M, E] (per-image classes)."""
    return q.unsqueeze(0).expand(batch, -1, -1) if q.dim() == 2 else q


class KnowledgeLocalityAttention(nn.Module):
    """The code variant. ``forward(patches [B, P, D], q) -> prototypes [B, M, D]``."""

    def __init__(self, dim: int, text_dim: int, num_patches: int, top_n: int = 9):
        super().__init__()
        if not 1 <= top_n <= num_patches:
            raise ValueError(f"top_n={top_n} must be in [1, {num_patches}] (the number of patches)")
        self.top_n = top_n
        self.num_patches = num_patches
        self.key = nn.Linear(dim, text_dim, bias=False)
        self.value = nn.Linear(dim, text_dim, bias=False)
        self.proj = nn.Linear(text_dim, dim)

    def scores(self, patches: Tensor, q: Tensor) -> Tensor:
        """Attention weights [B, M, P] after top-N masking and softmax."""
        k = self.key(patches)
        q = _batched_queries(q, patches.shape[0]).to(k.dtype)
        # The scale cancels in the L2 rescale below; kept for fidelity to the code.
        s = q @ k.transpose(1, 2) * self.num_patches**0.25
        top, idx = s.topk(self.top_n, dim=-1)
        s = torch.zeros_like(s).scatter(-1, idx, top)  # zero, not -inf: the authors' choice
        # Rescale each row to L2 norm P; the clamp only matters when all kept scores are 0.
        s = s / s.norm(dim=-1, keepdim=True).clamp_min(1e-12) * s.shape[-1]
        return s.softmax(dim=-1)

    def forward(self, patches: Tensor, q: Tensor) -> Tensor:
        return self.proj(self.scores(patches, q) @ self.value(patches))


class KnowledgeLocalityAttentionPaper(KnowledgeLocalityAttention):
    """The paper variant (Eq. 5-7): query projection, -inf masking, MLP + residual + BN."""

    def __init__(self, dim: int, text_dim: int, num_patches: int, top_n: int = 9):
        super().__init__(dim, text_dim, num_patches, top_n)
        self.query = nn.Linear(text_dim, text_dim, bias=False)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.norm = nn.BatchNorm1d(dim)

    def scores(self, patches: Tensor, q: Tensor) -> Tensor:
        k = self.key(patches)
        q = self.query(_batched_queries(q, patches.shape[0]).to(k.dtype))
        s = q @ k.transpose(1, 2) / math.sqrt(k.shape[-1])
        top, idx = s.topk(self.top_n, dim=-1)
        masked = torch.full_like(s, float("-inf")).scatter(-1, idx, top)
        return masked.softmax(dim=-1)

    def forward(self, patches: Tensor, q: Tensor) -> Tensor:
        z = self.proj(self.scores(patches, q) @ self.value(patches))
        b, m, d = z.shape
        # BatchNorm over all prototypes of the batch (B x M rows).
        return self.norm((z + self.mlp(z)).reshape(b * m, d)).reshape(b, m, d)


def build_kla(variant: str, dim: int, text_dim: int, num_patches: int, top_n: int) -> KnowledgeLocalityAttention:
    if variant == "code":
        return KnowledgeLocalityAttention(dim, text_dim, num_patches, top_n)
    if variant == "paper":
        return KnowledgeLocalityAttentionPaper(dim, text_dim, num_patches, top_n)
    raise ValueError(f"kla_variant must be 'code' or 'paper', got '{variant}'")
