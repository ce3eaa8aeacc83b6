"""LORE's Prompt Generator (PG) (docs/lore.md, "What runs").

``Y = Psi1(avgpool(E))`` is the per-image locality feature the KLA loss pulls
towards the true class's prototype; ``U = Psi2(Y)`` becomes ``n_generated``
prompt tokens for each of the L layers. The authors write Psi1/Psi2 as 1x1
convs on a [B, D, 1, 1] tensor; on pooled features that is a Linear layer
(same parameters, same BatchNorm statistics over the batch).
"""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


class BatchNorm1dAnyBatch(nn.BatchNorm1d):
    """BatchNorm1d that accepts a training batch of one image.

    Batch statistics of a single pooled vector are undefined (torch raises); the
    engine does not drop the last short batch, so a few-shot epoch can end with
    one image. That batch is normalised with the running statistics instead
    (they are not updated by it)."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.shape[0] == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                False, 0.0, self.eps)
        return super().forward(x)


class PromptGenerator(nn.Module):
    """Locality features [B, P, D] -> (Y [B, D], U [B, L, n_generated, D])."""

    def __init__(self, dim: int, num_layers: int, n_generated: int, hidden: int = 32, dropout: float = 0.1):
        super().__init__()
        if n_generated < 1:
            raise ValueError("n_generated must be at least 1 (the generated prompts are LORE's output)")
        self.num_layers, self.n_generated, self.dim = num_layers, n_generated, dim
        out = num_layers * n_generated * dim
        self.psi1 = nn.Sequential(nn.Linear(dim, hidden), BatchNorm1dAnyBatch(hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.psi2 = nn.Sequential(
            nn.Linear(dim, hidden), BatchNorm1dAnyBatch(hidden), nn.GELU(),
            nn.Linear(hidden, out), BatchNorm1dAnyBatch(out), nn.Dropout(dropout),
        )
        # Kaiming-normal weights, zero biases: the authors' White Box conv init.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        y = self.psi1(features.mean(dim=1))
        u = self.psi2(y).view(-1, self.num_layers, self.n_generated, self.dim)
        return y, u
