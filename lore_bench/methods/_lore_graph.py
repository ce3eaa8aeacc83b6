"""LORE's Locality Interaction Network (LIN): one Vision-GNN block over patch
embeddings (docs/lore.md, "What runs").

Layout is channels-first ``[B, C, N]`` with 1x1 ``Conv1d`` layers: a 1x1 conv
on a ``[B, C, N]`` tensor is the authors' 1x1 ``Conv2d`` on ``[B, C, H, W]``
(same parameters, same BatchNorm statistics over batch x nodes), and
``Conv1d`` keeps the grouped graph convolution expressible.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


@torch.no_grad()
def knn_graph(x: Tensor, k: int) -> Tensor:
    """Indices [B, N, k] of each node's k nearest neighbours, self included.

    ``x`` is [B, N, C]. Features are L2-normalised and compared by Euclidean
    distance (Vision GNN's dense kNN graph, dilation 1). The graph is a
    discrete choice, so no gradient flows through it. It is computed in fp32
    whatever the autocast: under bf16 the rounded distances change some
    neighbour sets (4 % of them for random 768-d features in a CPU test)."""
    with torch.autocast(x.device.type, enabled=False):
        z = F.normalize(x.float(), dim=-1)
        sq = (z * z).sum(-1, keepdim=True)
        dist = sq - 2 * z @ z.transpose(1, 2) + sq.transpose(1, 2)
        return dist.topk(k, dim=-1, largest=False).indices


def max_relative(x: Tensor, idx: Tensor) -> Tensor:
    """Max-relative aggregation: ``out[b, i] = max_{j in idx[b, i]} (x[b, j] - x[b, i])``.

    ``x`` [B, N, C], ``idx`` [B, N, k] -> [B, N, C]."""
    batch = torch.arange(x.shape[0], device=x.device).view(-1, 1, 1)
    neighbours = x[batch, idx]  # [B, N, k, C]
    return (neighbours - x.unsqueeze(2)).amax(dim=2)


class MaxRelativeGraphConv(nn.Module):
    """Dynamic kNN graph + max-relative aggregation + grouped 1x1 conv, BN, GELU."""

    def __init__(self, in_dim: int, out_dim: int, k: int, groups: int = 4):
        super().__init__()
        self.k = k
        self.conv = nn.Conv1d(2 * in_dim, out_dim, 1, groups=groups)
        self.norm = nn.BatchNorm1d(out_dim)

    def forward(self, x: Tensor) -> Tensor:  # [B, C, N]
        tokens = x.transpose(1, 2)
        rel = max_relative(tokens, knn_graph(tokens, self.k)).transpose(1, 2)
        # Interleave [x_0, r_0, x_1, r_1, ...] as Vision GNN's MRConv does: with
        # groups=4 each group then sees both a node's own features and their
        # max-relative counterpart (a plain [x, r] concat would split them).
        b, c, n = x.shape
        h = torch.stack([x, rel], dim=2).reshape(b, 2 * c, n)
        return F.gelu(self.norm(self.conv(h)))


def _conv_bn(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(in_dim, out_dim, 1), nn.BatchNorm1d(out_dim))


class Grapher(nn.Module):
    """fc1 (D -> D) -> graph conv (D -> 2D) -> fc2 (2D -> D), plus residual."""

    def __init__(self, dim: int, k: int):
        super().__init__()
        self.fc1 = _conv_bn(dim, dim)
        self.graph_conv = MaxRelativeGraphConv(dim, 2 * dim, k)
        self.fc2 = _conv_bn(2 * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fc2(self.graph_conv(self.fc1(x)))


class FFN(nn.Module):
    """1x1 conv D -> 4D + BN + GELU -> 1x1 conv 4D -> D + BN, plus residual."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = _conv_bn(dim, hidden)
        self.fc2 = _conv_bn(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fc2(F.gelu(self.fc1(x)))


class LocalityInteractionNetwork(nn.Module):
    """LIN: patch embeddings [B, P, D] -> locality-enhanced patch features [B, P, D]."""

    def __init__(self, dim: int, k: int = 9, mlp_ratio: int = 4):
        super().__init__()
        self.grapher = Grapher(dim, k)
        self.ffn = FFN(dim, mlp_ratio * dim)
        # The authors' White Box initialises every conv with Kaiming-normal
        # weights and zero biases (BatchNorm keeps weight 1, bias 0).
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, patches: Tensor) -> Tensor:
        x = patches.transpose(1, 2)
        return self.ffn(self.grapher(x)).transpose(1, 2)
