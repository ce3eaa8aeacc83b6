"""Trainable-parameter counts of the CLIP baselines on open_clip ViT-B-16
(text width 512, vision width 768, embed dim 512) equal the published ones
(docs/paper/baselines.md). Random weights: counts do not depend on them."""
from __future__ import annotations

import copy

import pytest

from lore_bench.backbones import build_backbone
from lore_bench.methods import METHODS, TaskInfo
from lore_bench.methods.base import build_config

NUM_CLASSES = 3  # few classes: the frozen text classifiers are encoded per method
TASK = TaskInfo("sklearn_digits", tuple(f"digit {i}" for i in range(NUM_CLASSES)), shots=16)


@pytest.fixture(scope="module")
def vit_b16():
    return build_backbone({"type": "open_clip", "arch": "ViT-B-16", "pretrained": None})


def count(backbone, name: str, **overrides) -> int:
    cls = METHODS.get(name)
    cfg = build_config(cls.Config, {**cls.default_config(TASK.dataset, TASK.shots), **overrides}, name)
    # Methods that train inside the tower change it: each gets its own copy, as in the engine.
    return cls(cfg, copy.deepcopy(backbone) if cls.trains_backbone else backbone, TASK).num_trainable()


@pytest.mark.parametrize(
    "name, overrides, expected",
    [
        ("zeroshot_clip", {}, 0),
        ("coop", {}, 16 * 512),  # 8,192
        ("prograd", {}, 16 * 512),
        ("cocoop", {}, 4 * 512 + (512 * 32 + 32) + (32 * 512 + 512)),  # 35,360
        ("clip_adapter", {}, 2 * 512 * 128),  # 131,072
        ("vpt", {"deep": True, "num_tokens": 8}, 12 * 8 * 768),  # 73,728; CLIP: frozen text head
        ("vpt", {"deep": False, "num_tokens": 8}, 8 * 768),
        ("linear_probe", {}, 512 * NUM_CLASSES + NUM_CLASSES),
        # LoRA rank 2 on q, k, v of all 12 layers of both towers, A [2, d] + B [d, 2] each:
        # vision 12 x 3 x 2 x (768 + 768) = 110,592; text 12 x 3 x 2 x (512 + 512) = 73,728.
        ("clip_lora", {}, 12 * 3 * 2 * (768 + 768) + 12 * 3 * 2 * (512 + 512)),  # 184,320
        ("clip_lora", {"encoder": "vision"}, 12 * 3 * 2 * (768 + 768)),
        # Image-tower biases: ln_pre 768; per block ln_1 768 + in_proj 3 x 768 + out_proj 768
        # + ln_2 768 + c_fc 3,072 + c_proj 768 = 8,448; ln_post 768. conv1 and proj have none.
        ("bitfit", {}, 768 + 12 * 8_448 + 768),  # 102,912
        ("bitfit", {"layernorm": False}, 12 * (3 * 768 + 768 + 3_072 + 768)),  # 82,944
        # One trainable key per training shot: C x K x 512 (ImageNet at 16 shots: 8,192,000).
        ("tip_adapter_f", {}, NUM_CLASSES * 16 * 512),  # 24,576
    ],
)
def test_published_counts(vit_b16, name, overrides, expected):
    assert count(vit_b16, name, **overrides) == expected


def test_cocoop_is_35360(vit_b16):
    assert count(vit_b16, "cocoop") == 35_360


def test_maple_is_about_3_55m(vit_b16):
    # 9 depths x 2 text prompts x 512 + 9 couplings Linear(512, 768) with bias.
    n = count(vit_b16, "maple")
    assert n == 9 * 2 * 512 + 9 * (512 * 768 + 768) == 3_555_072
    assert abs(n - 3.55e6) / 3.55e6 < 0.01


def test_vpt_on_a_timm_vit_trains_a_linear_head():
    # Vanilla ViT (no text tower needed): prompts 12 x 8 x 768 plus a 768 x C + C head.
    vit = build_backbone({"type": "timm", "arch": "vit_base_patch16_224", "pretrained": False})
    method = METHODS.get("vpt")(build_config(METHODS.get("vpt").Config, {}, "vpt"), vit, TASK)
    assert method.head is not None
    assert method.num_trainable() == 12 * 8 * 768 + 768 * NUM_CLASSES + NUM_CLASSES


@pytest.mark.parametrize("name", ["clip_lora", "bitfit", "coop"])
def test_total_params_count_in_tower_parameters_once(name):
    """The row's total_params: the tower's parameters (with what a method added
    inside it, LoRA's A and B) plus trainable parameters outside it, each once.
    It used to add every trainable parameter to the tower's count, so in-tower
    ones (LoRA factors, BitFit's biases) were counted twice."""
    from lore_bench.suite.engine.rows import parameter_counts

    tiny = build_backbone("micro_clip_random")
    before = sum(p.numel() for p in tiny.parameters())
    cls = METHODS.get(name)
    cfg = build_config(cls.Config, cls.default_config(TASK.dataset, TASK.shots), name)
    method = cls(cfg, copy.deepcopy(tiny) if cls.trains_backbone else tiny, TASK)
    trainable, total = parameter_counts(method)
    assert trainable == method.num_trainable() > 0
    if name == "clip_lora":  # everything it trains was added inside the tower
        added = sum(p.numel() for n, p in method.backbone.named_parameters() if "lora" in n.lower())
        assert added == trainable and total == before + added
    elif name == "bitfit":  # it trains the tower's own biases: nothing is added
        assert total == before
    else:  # CoOp's context vectors live outside the tower
        assert total == before + trainable
