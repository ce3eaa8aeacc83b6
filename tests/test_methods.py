"""Every registered method — built-in or plugin — gets these checks for free
(the timm test-suite pattern): logits shape, frozen backbone, gradients only
on trainable parameters, and a few steps lower the loss on a fixed batch."""
from __future__ import annotations

import copy
import dataclasses
import sys

import pytest
import torch

from conftest import TESTS_DIR
from lore_bench.methods import METHODS, PrepareContext, TaskInfo
from lore_bench.methods.base import build_config

sys.path.insert(0, f"{TESTS_DIR}/plugins")
import lb_bitfit_plugin  # noqa: E402
import lb_example_plugin  # noqa: E402

CLASSNAMES = ("0", "1", "2", "3")
ALL = [METHODS.get(n) for n in METHODS.names()] + [lb_example_plugin.TextInitHead, lb_bitfit_plugin.BitFit]


def build(cls, backbone, shots=2):
    from lore_bench.suite.engine.context import private_backbone

    task = TaskInfo("sklearn_digits", CLASSNAMES, "a photo of the digit {}.", "a photo of the digit {}.", shots)
    cfg = build_config(cls.Config, cls.default_config("sklearn_digits", shots), cls.name)
    # As the engine does: a method that changes the tower gets its own copy.
    return cls(cfg, private_backbone(backbone) if cls.trains_backbone else backbone, task)


def fixed_batch(backbone, n=8):
    g = torch.Generator().manual_seed(0)
    s = backbone.info.image_size
    return {"images": torch.randn(n, 3, s, s, generator=g), "labels": torch.arange(n) % len(CLASSNAMES),
            "index": torch.arange(n)}


def prepare(method, batch):
    def batches():
        yield batch

    def features():
        with torch.no_grad():
            return method.backbone.encode_image(batch["images"])

    method.prepare(PrepareContext(torch.device("cpu"), batch["labels"], "main", batches, features))


def step_batch(method, batch):
    if method.caches_image_features and not method.trains_backbone:
        with torch.no_grad():
            return {**{k: v for k, v in batch.items() if k != "images"},
                    "features": method.backbone.encode_image(batch["images"])}
    return batch


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_method_contract(cls, tiny_backbone):
    torch.manual_seed(0)
    # A method that trains inside the backbone gets a private copy (as the engine
    # gives it); the shared one must come out untouched.
    method = build(cls, copy.deepcopy(tiny_backbone) if cls.trains_backbone else tiny_backbone)
    batch = fixed_batch(tiny_backbone)
    prepare(method, batch)
    method.eval()
    with torch.no_grad():
        logits = method(batch["images"])
    assert logits.shape == (8, len(CLASSNAMES))
    assert all(not p.requires_grad for p in tiny_backbone.parameters()), "backbone must stay frozen"
    params = list(method.trainable_parameters())
    if not params:
        return  # zero-shot and closed-form methods: nothing to train
    before = {id(p): p.detach().clone() for p in params}
    backbone_before = [p.detach().clone() for p in tiny_backbone.parameters()]
    opt = torch.optim.SGD(params, lr=0.01 if cls.name != "lore" else 0.003, momentum=0.9)
    method.train()
    assert not tiny_backbone.training
    sb = step_batch(method, batch)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        out = method.training_step(sb)
        if not cls.manual_backward:
            out["loss"].backward()
        if not losses:
            assert all(p.grad is None for p in tiny_backbone.parameters())
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
        opt.step()
        losses.append(float(out["loss"].detach()))
    # A closed-form fit solved exactly in prepare() (linear probe) starts at ~0 loss.
    assert losses[-1] < losses[0] or losses[0] < 1e-4, f"{cls.name}: loss did not go down: {losses}"
    assert any(not torch.equal(before[id(p)], p) for p in params)
    assert all(torch.equal(a, b) for a, b in zip(backbone_before, tiny_backbone.parameters()))
    state = method.trainable_state_dict()
    inside = {k for k in state if k.startswith("backbone.")}
    if cls.trains_backbone:  # its in-tower parameters are saved, the frozen rest is not
        assert method.backbone is not tiny_backbone
        trained = {n for n, p in method.named_parameters() if p.requires_grad and n.startswith("backbone.")}
        assert trained and trained <= inside
        assert sum(state[k].numel() for k in inside) < sum(p.numel() for p in method.backbone.parameters()) / 2
    else:
        assert state and not inside
    method.load_trainable_state_dict(state)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_method_config_is_a_dataclass_with_defaults(cls):
    assert dataclasses.is_dataclass(cls.Config)
    build_config(cls.Config, cls.default_config("sklearn_digits", 4), cls.name)
    assert isinstance(cls.default_training("sklearn_digits", 4), dict)
