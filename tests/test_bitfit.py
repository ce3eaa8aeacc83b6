"""BitFit: exactly the image tower's bias terms train, the text head stays zero-shot CLIP's."""
from __future__ import annotations

import copy

import torch
from torch import nn

from lore_bench.methods import METHODS, TaskInfo
from lore_bench.methods.base import build_config
from lore_bench.methods.bitfit import image_tower_biases
from lore_bench.methods.zeroshot_clip import ZeroShotCLIP

TASK = TaskInfo("sklearn_digits", ("0", "1", "2"), "a photo of the digit {}.", shots=2)


def build(backbone, **cfg):
    cls = METHODS.get("bitfit")
    return cls(build_config(cls.Config, cfg, "bitfit"), backbone, TASK)


def test_only_image_tower_biases_train(tiny_backbone):
    method = build(copy.deepcopy(tiny_backbone))
    trained = {n for n, p in method.backbone.named_parameters() if p.requires_grad}
    assert trained == set(method.bias_names)
    assert all(n.startswith("visual.") and n.endswith("bias") for n in trained)
    blocks = tiny_backbone.info.num_layers
    # per block: ln_1, in_proj, out_proj, ln_2, c_fc, c_proj; plus ln_pre and ln_post
    assert len(trained) == 6 * blocks + 2
    expected = sum(p.numel() for n, p in tiny_backbone.named_parameters()
                   if n.startswith("visual.") and n.rsplit(".", 1)[-1].endswith("bias"))
    assert method.num_trainable() == expected
    assert not any(p.requires_grad for p in tiny_backbone.parameters()), "shared backbone untouched"


def test_layernorm_shifts_can_stay_frozen(tiny_backbone):
    names = image_tower_biases(tiny_backbone, layernorm=False)
    norms = {m for m, mod in tiny_backbone.named_modules() if isinstance(mod, nn.LayerNorm)}
    assert names and not any(n.rpartition(".")[0] in norms for n in names)
    assert len(names) == 4 * tiny_backbone.info.num_layers


def test_starts_as_zero_shot_and_a_step_moves_only_biases(tiny_backbone):
    method = build(copy.deepcopy(tiny_backbone))
    images = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(method.eval()(images), ZeroShotCLIP(None, tiny_backbone, TASK).eval()(images), atol=1e-5)
    weights = {n: p.detach().clone() for n, p in method.backbone.named_parameters() if not p.requires_grad}
    opt = torch.optim.AdamW(method.trainable_parameters(), lr=1e-2)
    method.train()
    loss = method.training_step({"images": images, "labels": torch.arange(6) % 3, "index": torch.arange(6)})["loss"]
    loss.backward()
    opt.step()
    after = dict(method.backbone.named_parameters())
    assert all(torch.equal(w, after[n]) for n, w in weights.items())
    state = method.trainable_state_dict()
    assert set(state) == {f"backbone.{n}" for n in method.bias_names}
    assert any(not torch.equal(state[f"backbone.{n}"], tiny_backbone.state_dict()[n]) for n in method.bias_names)


def test_trained_biases_restore_into_a_fresh_copy(tiny_backbone):
    trained = build(copy.deepcopy(tiny_backbone))
    with torch.no_grad():
        for p in trained.trainable_parameters():
            p.add_(0.1)
    fresh = build(copy.deepcopy(tiny_backbone))
    fresh.load_trainable_state_dict(trained.trainable_state_dict())
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(fresh.eval()(images), trained.eval()(images))
