"""LORE (docs/paper/lore.md): graph ops vs brute force, token layout at every layer,
frozen backbone, trainable count, eval without KLA, determinism, training."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from lore_bench.backbones import build_backbone
from lore_bench.methods import METHODS, PrepareContext, TaskInfo
from lore_bench.methods._lore_graph import MaxRelativeGraphConv, knn_graph, max_relative
from lore_bench.methods._lore_kla import KnowledgeLocalityAttention
from lore_bench.methods.base import build_config
from lore_bench.methods.lore import Lore, _leave_one_out_ncm

TIMM_TINY = {"type": "timm", "arch": "vit_tiny_patch16_224", "pretrained": False,
             "text_tower": {"arch": "micro-clip", "pretrained": None}}


def make(backbone, classes=4, seed=0, **cfg) -> Lore:
    torch.manual_seed(seed)
    task = TaskInfo("unit", tuple(f"class_{i}" for i in range(classes)))
    return Lore(build_config(Lore.Config, cfg, "lore"), backbone, task)


def batch_for(backbone, n=8, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    size = backbone.info.image_size
    return {"images": torch.randn(n, 3, size, size, generator=g),
            "labels": torch.arange(n) % classes, "index": torch.arange(n)}


def context_for(batch, stage="main"):
    return PrepareContext(device=torch.device("cpu"), labels=batch["labels"], stage=stage,
                          _batches=lambda: [batch], _features=None)


@pytest.fixture(scope="module")
def micro():
    return build_backbone("micro_clip_random")


# -- graph ops vs brute force ------------------------------------------------------------

def test_knn_matches_brute_force():
    x = torch.randn(2, 30, 16)
    idx = knn_graph(x, 9)
    for b in range(2):
        z = [v / v.norm() for v in x[b]]
        for i in range(30):
            d = torch.tensor([float(((z[i] - z[j]) ** 2).sum()) for j in range(30)])
            assert set(idx[b, i].tolist()) == set(d.argsort()[:9].tolist())
            assert i in idx[b, i].tolist()  # self included


def test_max_relative_matches_brute_force():
    x, idx = torch.randn(2, 12, 5), torch.randint(0, 12, (2, 12, 4))
    out = max_relative(x, idx)
    for b in range(2):
        for i in range(12):
            for c in range(5):
                ref = max(float(x[b, j, c] - x[b, i, c]) for j in idx[b, i].tolist())
                assert out[b, i, c].item() == pytest.approx(ref, abs=1e-6)


def test_graph_conv_interleaves_node_and_relative_features():
    conv = MaxRelativeGraphConv(8, 16, k=3).eval()
    x = torch.randn(2, 8, 10)
    tokens = x.transpose(1, 2)
    rel = max_relative(tokens, knn_graph(tokens, 3)).transpose(1, 2)
    h = torch.empty(2, 16, 10)
    h[:, 0::2], h[:, 1::2] = x, rel  # channel 2c = node feature c, 2c+1 = its max-relative
    ref = F.gelu(conv.norm(conv.conv(h)))
    torch.testing.assert_close(conv(x), ref)


def test_kla_code_variant_masks_to_zero_and_selects_classes():
    kla = KnowledgeLocalityAttention(dim=16, text_dim=8, num_patches=20, top_n=3)
    patches, q = torch.randn(2, 20, 16), F.normalize(torch.randn(5, 8), dim=-1)
    w = kla.scores(patches, q)
    for row in w.reshape(-1, 20):  # the 17 masked scores were set to 0: equal weights
        low = row.sort().values[:17]
        torch.testing.assert_close(low, low[:1].expand(17))
    full = kla(patches, q)
    classes = torch.tensor([[4, 1], [0, 2]])
    part = kla(patches, q[classes])  # per-image class selection as training_step uses it
    torch.testing.assert_close(part, full[torch.arange(2).unsqueeze(1), classes])


def test_leave_one_out_ncm_matches_brute_force():
    feats, labels = torch.randn(9, 6), torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 3])
    got = _leave_one_out_ncm(feats, labels, 4)
    f = F.normalize(feats, dim=-1)
    for i in range(9):
        sims = []
        for c in range(4):
            members = [j for j in range(9) if labels[j] == c and j != i]
            sims.append(float(f[i] @ F.normalize(f[members].mean(0), dim=0)) if members else float("-inf"))
        assert got[i].item() == max(range(4), key=lambda c: sims[c])


# -- the method on micro-CLIP ----------------------------------------------------------------

def _capture_block_io(blocks):
    inputs, outputs, handles = [], [], []
    for blk in blocks:
        handles.append(blk.register_forward_pre_hook(lambda m, args: inputs.append(args[0].detach())))
        handles.append(blk.register_forward_hook(lambda m, args, out: outputs.append(out.detach())))
    return inputs, outputs, handles


def check_token_layout(backbone, method, images):
    info, cfg = backbone.info, method.cfg
    n_s, n_g = cfg.n_shared, cfg.n_generated
    method.eval()
    with torch.no_grad():
        _, _, u = method.white_box(images)
        inputs, outputs, handles = _capture_block_io(backbone.blocks())
        method(images)
    for h in handles:
        h.remove()
    assert len(inputs) == info.num_layers
    b = images.shape[0]
    for i, x in enumerate(inputs):
        assert x.shape == (b, 1 + n_s + n_g + info.num_patches, info.width)
        prompts = torch.cat([method.shared[i].expand(b, -1, -1), u[:, i]], dim=1)
        if i == 0:  # inserted after the positional embedding, before the pre-norm
            ref = backbone.pre_norm(prompts)  # a per-token norm
            torch.testing.assert_close(x[:, 1 : 1 + n_s + n_g], ref)
        else:  # prompt slots replaced; CLS and patches carried over from the previous layer
            torch.testing.assert_close(x[:, 1 : 1 + n_s], method.shared[i].expand(b, -1, -1))
            torch.testing.assert_close(x[:, 1 + n_s : 1 + n_s + n_g], u[:, i])
            prev = outputs[i - 1]
            torch.testing.assert_close(x[:, :1], prev[:, :1])
            torch.testing.assert_close(x[:, 1 + n_s + n_g :], prev[:, 1 + n_s + n_g :])


def test_registered():
    assert METHODS.get("lore") is Lore


def test_token_layout_every_layer_clip(micro):
    check_token_layout(micro, make(micro), batch_for(micro, n=2)["images"])


def test_backbone_frozen_and_all_white_box_parts_trained(micro):
    m = make(micro)
    batch = batch_for(micro)
    m.prepare(context_for(batch))
    m.train()
    assert not micro.training  # the frozen tower stays in eval mode
    m.training_step(batch)["loss"].backward()
    assert all(not p.requires_grad and p.grad is None for p in micro.parameters())
    assert micro.visual.conv1.weight.grad is None  # the patch-embedding conv LIN reads
    names = {n.split(".")[0] for n, p in m.named_parameters() if p.requires_grad}
    assert names == {"shared", "lin", "pg", "kla", "head"}
    assert all(p.grad is not None for p in m.trainable_parameters())


def test_eval_does_not_call_kla(micro, monkeypatch):
    m = make(micro)
    batch = batch_for(micro)
    m.prepare(context_for(batch))
    calls = []
    original = m.kla.forward
    monkeypatch.setattr(m.kla, "forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    m.eval()
    with torch.no_grad():
        assert m(batch["images"]).shape == (8, 4)
    assert calls == []
    m.train()
    m.training_step(batch)
    assert calls == [1]


def test_deterministic_with_seed(micro):
    batch = batch_for(micro)
    losses, states = [], []
    for _ in range(2):
        m = make(micro, seed=3)
        m.prepare(context_for(batch))
        m.train()
        torch.manual_seed(7)  # dropout in PG
        losses.append(m.training_step(batch)["loss"].item())
        states.append(m.trainable_state_dict())
    assert losses[0] == losses[1]
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_prepare_uses_frozen_zero_shot_clip(micro):
    m = make(micro)
    batch = batch_for(micro)
    m.prepare(context_for(batch))
    texts = [f"a photo of a class {i}." for i in range(4)]
    with torch.no_grad():
        ref = (F.normalize(micro.encode_image(batch["images"]), dim=-1) @ micro.text.encode_texts(texts).t()).argmax(-1)
    assert torch.equal(m.confusing_labels, ref)
    # Labels set by the easy-to-hard protocol survive the next prepare().
    pinned = torch.tensor([3, 2, 1, 0, 3, 2, 1, 0])
    m.set_confusing_labels(pinned)
    m.prepare(context_for(batch))
    assert torch.equal(m.confusing_labels, pinned)
    m.prepare(context_for(batch, stage="hard"))  # hard stage: the model's own prediction
    m.eval()
    with torch.no_grad():
        assert torch.equal(m.confusing_labels, m(batch["images"]).argmax(-1))


def test_few_steps_lower_the_loss(micro):
    m = make(micro, seed=1)
    batch = batch_for(micro, n=8)
    m.prepare(context_for(batch))
    opt = torch.optim.SGD(m.trainable_parameters(), lr=0.01, momentum=0.9)
    m.train()
    losses = []
    for _ in range(5):
        opt.zero_grad()
        out = m.training_step(batch)
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert losses[-1] < losses[0]


def test_use_kla_false_is_cross_entropy_only(micro):
    m = make(micro, use_kla=False)
    assert m.kla is None
    batch = batch_for(micro)
    out = m.training_step(batch)
    torch.testing.assert_close(out["loss"], F.cross_entropy(out["logits"], batch["labels"]))
    assert m.num_trainable() < make(micro).num_trainable()


def test_paper_variant_and_batch_of_one_train(micro):
    m = make(micro, kla_variant="paper")
    batch = batch_for(micro)
    m.prepare(context_for(batch))
    m.train()
    m.training_step(batch)["loss"].backward()
    one = {k: v[:1] for k, v in batch.items()}  # the engine keeps a last batch of one
    m = make(micro)
    m.prepare(context_for(one))
    assert torch.isfinite(m.training_step(one)["loss"])


def test_unknown_option_rejected():
    from lore_bench.methods.base import ConfigError

    with pytest.raises(ConfigError):
        build_config(Lore.Config, {"top_k": 3}, "lore")
    with pytest.raises(ValueError):
        build_config(Lore.Config, {"kla_variant": "other"}, "lore")


def test_default_training_budget():
    assert Lore.default_training("cifar10", 16)["epochs"] == 20
    assert Lore.default_training("cifar100", 16)["batch_size"] == 32
    flowers = Lore.default_training("flowers102", 16)
    assert (flowers["epochs"], flowers["lr"], flowers["min_lr"], flowers["momentum"]) == (50, 0.003, 1e-4, 0.9)
    assert Lore.default_training("sklearn_digits", 16)["weight_decay"] == 5e-4


# -- trainable count on ViT-B/16, from the spec's shapes -------------------------------------

def expected_trainable(d=768, layers=12, text_dim=512, classes=10, n_s=8, n_g=2, hidden=32) -> dict[str, int]:
    conv_bn = lambda i, o: i * o + o + 2 * o  # 1x1 conv with bias + BatchNorm (weight, bias)
    graph = (2 * d) * (2 * d) // 4 + 2 * d + 2 * (2 * d)  # grouped conv (groups 4) + BN
    lin = conv_bn(d, d) + graph + conv_bn(2 * d, d) + conv_bn(d, 4 * d) + conv_bn(4 * d, d)
    kla = 2 * d * text_dim + text_dim * d + d  # K, V (no bias), output Linear
    out = layers * n_g * d
    pg = (d * hidden + hidden) + 2 * hidden + (hidden * d + d) \
        + (d * hidden + hidden) + 2 * hidden + (hidden * out + out) + 2 * out
    return {"lin": lin, "kla": kla, "pg": pg, "shared": layers * n_s * d, "head": text_dim * classes + classes}


def test_trainable_count_vit_b16():
    backbone = build_backbone({"type": "open_clip", "arch": "ViT-B-16", "pretrained": None})
    m = make(backbone, classes=10)
    expected = expected_trainable(classes=10)
    measured = {"lin": m.lin, "kla": m.kla, "pg": m.pg, "head": m.head}
    for part, module in measured.items():
        n = sum(p.numel() for p in module.parameters())
        assert abs(n - expected[part]) <= 0.02 * expected[part], part
    total = sum(expected.values())
    assert abs(m.num_trainable() - total) <= 0.02 * total
    assert 9.0e6 < m.num_trainable() < 9.2e6  # the spec's "about 9.1M"
    # The spec's component figures: LIN ~7.10M, KLA ~1.18M, PG ~0.72M, prompts 73.7K.
    for part, figure in {"lin": 7.10e6, "kla": 1.18e6, "pg": 0.72e6, "shared": 73.7e3}.items():
        assert abs(expected[part] - figure) <= 0.02 * figure, part


# -- vanilla ViT (timm) with a CLIP text tower ----------------------------------------------

def test_timm_vit_backbone():
    backbone = build_backbone(TIMM_TINY)
    assert backbone.family == "vit"
    m = make(backbone, classes=2)
    batch = batch_for(backbone, n=2, classes=2)
    assert m.head.in_features == backbone.info.feature_dim  # pre-logits CLS feature
    check_token_layout(backbone, m, batch["images"])
    m.prepare(context_for(batch))  # leave-one-out nearest class mean: one shot each -> the other class
    assert m.confusing_labels.tolist() == [1, 0]
    m.train()
    out = m.training_step(batch)
    out["loss"].backward()
    assert out["logits"].shape == (2, 2) and torch.isfinite(out["loss"])
    assert all(p.grad is None for p in backbone.parameters())
