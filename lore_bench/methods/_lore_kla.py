"""LORE's Knowledge-Locality Attention (KLA), used in training only
(docs/lore.md, "KLA").

The class names' frozen text embeddings q attend over the locality-enhanced
patch features; each class gets one Knowledge-Locality prototype per image.
Two variants, selected by ``kla_variant``:

- ``code`` (default): the authors' release (models/WB_module.py KLA). K, V
  projections D -> E without bias, scores ``q K^T * N**0.25`` (their
  ``sqrt(14)`` for 14 x 14 patches), the top-N scores kept and the rest set to
  *zero*, each row rescaled to L2 norm N, softmax, times V, output projection
  E -> D.
- ``paper``: the paper's Eq. 5-7: ``Q = q Wq`` (E -> D), ``K = E Wk``, ``V = E Wv``
  (D -> D), ``A = softmax(top_N(Q K^T / sqrt(D))) V`` with the scores outside the
  top N set to zero (the paper's row-wise filter "sets the rest to 0"), and the
  prototype ``BN(MLP(A) + A)``. The paper gives no MLP widths or activation; we
  use D -> D -> D with GELU. Projections have no bias (the paper writes none).

The top-N selection (and the scores it ranks) runs in fp32 whatever the autocast
says: in bf16 tied or close scores swap and the kept set changes.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _batched_queries(q: Tensor, batch: int) -> Tensor:
    """q [C, E] (same classes for every image) or [B, M, E] (per-image classes)."""
    return q.unsqueeze(0).expand(batch, -1, -1) if q.dim() == 2 else q


def top_n_zero_filter(s: Tensor, n: int) -> Tensor:
    """Each row's top-``n`` entries kept, every other entry set to 0 (not -inf)."""
    top, idx = s.topk(n, dim=-1)
    return torch.zeros_like(s).scatter(-1, idx, top)


def _fp32(device_type: str):
    return torch.autocast(device_type, enabled=False)


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

    def raw_scores(self, patches: Tensor, q: Tensor) -> Tensor:
        """Scores [B, M, P] before the top-N filter, in fp32."""
        with _fp32(patches.device.type):
            k = self.key(patches.float())
            q = _batched_queries(q, patches.shape[0]).float()
            # The scale cancels in the L2 rescale below; kept for fidelity to the code.
            return q @ k.transpose(1, 2) * self.num_patches**0.25

    def scores(self, patches: Tensor, q: Tensor) -> Tensor:
        """Attention weights [B, M, P] after top-N filtering and softmax (fp32)."""
        with _fp32(patches.device.type):
            s = top_n_zero_filter(self.raw_scores(patches, q), self.top_n)
            # Rescale each row to L2 norm P; the clamp only matters when all kept scores are 0.
            s = s / s.norm(dim=-1, keepdim=True).clamp_min(1e-12) * s.shape[-1]
            return s.softmax(dim=-1)

    def forward(self, patches: Tensor, q: Tensor) -> Tensor:
        v = self.value(patches)
        return self.proj(self.scores(patches, q).to(v.dtype) @ v)


class KnowledgeLocalityAttentionPaper(nn.Module):
    """The paper variant (Eq. 5-7); same interface as the code variant."""

    def __init__(self, dim: int, text_dim: int, num_patches: int, top_n: int = 9):
        super().__init__()
        if not 1 <= top_n <= num_patches:
            raise ValueError(f"top_n={top_n} must be in [1, {num_patches}] (the number of patches)")
        self.top_n = top_n
        self.num_patches = num_patches
        self.query = nn.Linear(text_dim, dim, bias=False)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=False)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.norm = nn.BatchNorm1d(dim)

    def raw_scores(self, patches: Tensor, q: Tensor) -> Tensor:
        with _fp32(patches.device.type):
            k = self.key(patches.float())
            queries = self.query(_batched_queries(q, patches.shape[0]).float())
            return queries @ k.transpose(1, 2) / math.sqrt(k.shape[-1])

    def scores(self, patches: Tensor, q: Tensor) -> Tensor:
        with _fp32(patches.device.type):
            return top_n_zero_filter(self.raw_scores(patches, q), self.top_n).softmax(dim=-1)

    def forward(self, patches: Tensor, q: Tensor) -> Tensor:
        v = self.value(patches)
        a = self.scores(patches, q).to(v.dtype) @ v
        b, m, d = a.shape
        # BatchNorm over all prototypes of the batch (B x M rows).
        return self.norm((self.mlp(a) + a).reshape(b * m, d)).reshape(b, m, d)


def build_kla(variant: str, dim: int, text_dim: int, num_patches: int, top_n: int) -> nn.Module:
    if variant == "code":
        return KnowledgeLocalityAttention(dim, text_dim, num_patches, top_n)
    if variant == "paper":
        return KnowledgeLocalityAttentionPaper(dim, text_dim, num_patches, top_n)
    raise ValueError(f"kla_variant must be 'code' or 'paper', got '{variant}'")
