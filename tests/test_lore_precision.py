"""LORE's discrete selections (LIN's kNN graph, KLA's top-N) are identical under bf16
autocast and fp32; the release's fp32 White Box is available (white_box_fp32).
CPU bf16 autocast stands in for the GPU's: it casts matmuls the same way."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from lore_bench.backbones import build_backbone
from lore_bench.methods import TaskInfo
from lore_bench.methods._lore_graph import knn_graph
from lore_bench.methods._lore_kla import build_kla
from lore_bench.methods.base import build_config
from lore_bench.methods.lore import Lore


def bf16():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def neighbour_sets(idx: torch.Tensor) -> list[frozenset]:
    return [frozenset(row.tolist()) for row in idx.reshape(-1, idx.shape[-1])]


def test_knn_graph_is_the_same_under_bf16_autocast():
    torch.manual_seed(0)
    x = torch.randn(2, 196, 256)
    with bf16():
        under_autocast = knn_graph(x, 9)
        # What an unguarded computation would pick: the same formula, bf16 matmul.
        z = F.normalize(x, dim=-1)
        sq = (z * z).sum(-1, keepdim=True)
        naive = (sq - 2 * z @ z.transpose(1, 2) + sq.transpose(1, 2)).topk(9, dim=-1, largest=False).indices
    fp32 = knn_graph(x, 9)
    assert torch.equal(under_autocast, fp32)
    assert neighbour_sets(naive) != neighbour_sets(fp32)  # bf16 would change some neighbour sets


@pytest.mark.parametrize("variant", ["code", "paper"])
def test_kla_top_n_is_the_same_under_bf16_autocast(variant):
    torch.manual_seed(0)
    kla = build_kla(variant, 256, 128, 196, 9)
    patches, q = torch.randn(2, 196, 256), F.normalize(torch.randn(20, 128), dim=-1)
    with bf16():
        scores_bf16 = kla.scores(patches, q)
        naive = (_bf16_raw(kla, patches, q)).topk(9, dim=-1).indices
    scores_fp32 = kla.scores(patches, q)
    assert scores_bf16.dtype == torch.float32 and torch.equal(scores_bf16, scores_fp32)
    top = kla.raw_scores(patches, q).topk(9, dim=-1).indices
    assert neighbour_sets(naive) != neighbour_sets(top)  # bf16 would change some top-N sets


def _bf16_raw(kla, patches, q):
    if hasattr(kla, "query"):
        return kla.query(q) @ kla.key(patches).transpose(1, 2)
    return q @ kla.key(patches).transpose(1, 2)


@pytest.fixture(scope="module")
def micro():
    return build_backbone("micro_clip_random")


def test_white_box_fp32_ignores_autocast(micro):
    torch.manual_seed(0)
    task = TaskInfo("unit", ("a", "b", "c"))
    model = Lore(build_config(Lore.Config, {"white_box_fp32": True}, "lore"), micro, task).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        with bf16():
            # The frozen patch-embedding conv follows the autocast (the release runs it in fp16) ...
            patches = micro.patch_embed(images).float()
            e, y, u = model.white_box(images)
        # ... and LIN + PG then run in fp32 on it.
        e_ref = model.lin(patches)
        y_ref, u_ref = model.pg(e_ref)
    assert e.dtype == y.dtype == u.dtype == torch.float32
    assert torch.equal(e, e_ref) and torch.equal(y, y_ref) and torch.equal(u, u_ref)
