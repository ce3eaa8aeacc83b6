"""CLIP-LoRA: the wrapper around open_clip's fused attention computes exactly the
attention with merged weights W + scale * B @ A, starts as the frozen layer,
applies dropout only while the method trains; the budget is the release's."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from lore_bench.methods import METHODS, TaskInfo
from lore_bench.methods.base import ConfigError, build_config
from lore_bench.methods.clip_lora import LoRAAttention, clip_lora_epochs
from lore_bench.methods.zeroshot_clip import ZeroShotCLIP

TASK = TaskInfo("sklearn_digits", ("0", "1", "2"), "a photo of the digit {}.", shots=2)


def mha(dim=16, heads=4):
    torch.manual_seed(0)
    m = nn.MultiheadAttention(dim, heads, batch_first=True)
    with torch.no_grad():
        m.in_proj_bias.normal_()
        m.out_proj.bias.normal_()
    return m.eval().requires_grad_(False)


def merged(base: nn.MultiheadAttention, lora: LoRAAttention) -> nn.MultiheadAttention:
    """The plain attention whose weights carry the adapters' updates."""
    out = copy.deepcopy(base)
    dim = base.embed_dim
    with torch.no_grad():
        for i, t in enumerate("qkv"):
            if t in lora.targets:
                delta = getattr(lora, f"lora_B_{t}") @ getattr(lora, f"lora_A_{t}")
                out.in_proj_weight[i * dim:(i + 1) * dim] += lora.scale * delta
        if "o" in lora.targets:
            out.out_proj.weight += lora.scale * lora.lora_B_o @ lora.lora_A_o
    return out


def randomise_b(lora: LoRAAttention) -> None:
    with torch.no_grad():
        for t in lora.targets:
            getattr(lora, f"lora_B_{t}").normal_()


@pytest.mark.parametrize("targets", [("q", "k", "v"), ("q", "k", "v", "o"), ("v",)])
def test_lora_attention_equals_merged_weights(targets):
    base = mha()
    lora = LoRAAttention(base, targets, rank=2, alpha=1.0, dropout=0.25).eval()
    x = torch.randn(3, 7, 16)
    causal = torch.full((7, 7), float("-inf")).triu(1)  # the text tower's mask
    for mask in (None, causal):
        want = base(x, x, x, need_weights=False, attn_mask=mask)[0]
        assert torch.allclose(lora(x, x, x, attn_mask=mask)[0], want, atol=1e-5), "B = 0 must start as the frozen layer"
    randomise_b(lora)
    ref = merged(base, lora)
    for mask in (None, causal, causal == float("-inf")):  # float and boolean masks
        want = ref(x, x, x, need_weights=False, attn_mask=mask)[0]
        got = lora(x, x, x, attn_mask=mask)[0]
        assert torch.allclose(got, want, atol=1e-4)
    assert not torch.allclose(got, base(x, x, x, need_weights=False, attn_mask=causal == float("-inf"))[0], atol=1e-3)
    kv = torch.randn(3, 5, 16)  # cross-attention path (separate q / k / v inputs)
    assert torch.allclose(lora(x, kv, kv)[0], ref(x, kv, kv, need_weights=False)[0], atol=1e-4)


def test_release_scaling_and_init():
    lora = LoRAAttention(mha(), ("q", "k", "v"), rank=4, alpha=2.0, dropout=0.0)
    assert lora.scale == pytest.approx(2.0 / 4 ** 0.5)  # alpha / sqrt(r), not alpha / r
    assert all(torch.count_nonzero(getattr(lora, f"lora_B_{t}")) == 0 for t in "qkv")
    assert all(getattr(lora, f"lora_A_{t}").abs().sum() > 0 for t in "qkv")
    assert not any(p.requires_grad for p in lora.base.parameters())


def build(backbone, **cfg):
    cls = METHODS.get("clip_lora")
    return cls(build_config(cls.Config, cfg, "clip_lora"), backbone, TASK)


def test_starts_as_zero_shot_clip_and_adapts_both_towers(tiny_backbone):
    method = build(copy.deepcopy(tiny_backbone)).eval()
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    zeroshot = ZeroShotCLIP(None, tiny_backbone, TASK).eval()
    with torch.no_grad():
        assert torch.allclose(method(images), zeroshot(images), atol=1e-4)
    layers = tiny_backbone.info.num_layers + tiny_backbone.text.num_layers
    assert len(method.adapted) == layers
    assert all(isinstance(b.attn, LoRAAttention) for b in method.backbone.blocks())
    assert all(isinstance(b.attn, LoRAAttention) for b in method.backbone.text.transformer.resblocks)
    assert not any(isinstance(b.attn, LoRAAttention) for b in tiny_backbone.blocks()), "shared backbone untouched"
    for m in method.adapted:
        randomise_b(m)
    with torch.no_grad():  # now both towers differ from zero-shot, and eval is deterministic
        a, b = method(images), method(images)
    assert torch.equal(a, b) and not torch.allclose(a, zeroshot(images), atol=1e-3)


def test_dropout_follows_the_method_while_the_tower_stays_in_eval(tiny_backbone):
    method = build(copy.deepcopy(tiny_backbone))
    method.train()
    assert not method.backbone.training and not any(b.training for b in method.backbone.blocks())
    assert all(m.lora_dropout["q"].training for m in method.adapted)
    method.eval()
    assert not any(m.lora_dropout["q"].training for m in method.adapted)


def test_vision_only_and_layer_choice(tiny_backbone):
    method = build(copy.deepcopy(tiny_backbone), encoder="vision", layers=[0, 3])
    assert len(method.adapted) == 2
    assert [isinstance(b.attn, LoRAAttention) for b in method.backbone.blocks()] == [True, False, False, True]
    assert not any(isinstance(b.attn, LoRAAttention) for b in method.backbone.text.transformer.resblocks)
    with pytest.raises(ConfigError, match="layer 7 does not exist"):
        build(copy.deepcopy(tiny_backbone), layers=[7])
    with pytest.raises(ConfigError, match="targets"):
        build(copy.deepcopy(tiny_backbone), targets=["x"])


def test_a_second_wrap_of_the_same_tower_is_an_error(tiny_backbone):
    backbone = copy.deepcopy(tiny_backbone)
    build(backbone)
    with pytest.raises(RuntimeError, match="private copy"):
        build(backbone)


def test_budget_is_500_iterations_per_shot_at_batch_32():
    # ImageNet, 16 shots: 16,000 images = 500 iterations an epoch; 8,000 iterations = 16 epochs.
    assert clip_lora_epochs("imagenet", 16) == 16
    # Flowers102, 16 shots: ceil(1,632 / 32) = 51 iterations an epoch; ceil(8,000 / 51) = 157.
    assert clip_lora_epochs("flowers102", 16) == 157
    # EuroSAT, 1 shot: 10 images, one iteration an epoch, 500 iterations.
    assert clip_lora_epochs("eurosat", 1) == 500
    # An embedded dataset's class list counts too (10 digits).
    assert clip_lora_epochs("sklearn_digits", 16) == 1600
    # Unknown class count: 100 classes, ceil(1,600 / 32) = 50 an epoch.
    assert clip_lora_epochs("not_a_dataset", 16) == 160
    t = METHODS.get("clip_lora").default_training("imagenet", 16)
    assert (t["optimizer"], t["lr"], t["batch_size"], t["weight_decay"], t["min_lr"], t["warmup_epochs"]) == \
        ("adamw", 2e-4, 32, 1e-2, 1e-6, 0)


def test_trained_state_restores_into_a_fresh_copy(tiny_backbone):
    trained = build(copy.deepcopy(tiny_backbone))
    for m in trained.adapted:
        randomise_b(m)
    state = trained.trainable_state_dict()
    assert len(state) == 2 * 3 * len(trained.adapted) and all(".lora_" in k for k in state)
    fresh = build(copy.deepcopy(tiny_backbone))
    fresh.load_trainable_state_dict(state)
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(fresh.eval()(images), trained.eval()(images))
