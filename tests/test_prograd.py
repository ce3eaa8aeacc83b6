"""ProGrad's prompt-aligned gradient: the projection, and the training step
that writes it into ``.grad`` (manual_backward)."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from lore_bench.backbones import build_backbone
from lore_bench.methods import METHODS, TaskInfo
from lore_bench.methods.base import build_config
from lore_bench.methods.prograd import prograd_project, template_words


def _pairs(n: int = 500, dim: int = 64):
    gen = torch.Generator().manual_seed(0)
    for i in range(n):
        g, g_kl = torch.randn(dim, generator=gen), torch.randn(dim, generator=gen)
        if i % 2:  # force a conflict on half of them, at widely varying scales
            g = g - (2.0 * torch.dot(g, g_kl) / g_kl.dot(g_kl) + 1.0) * g_kl
            g = g * 10.0 ** float(torch.randint(-4, 5, (1,), generator=gen))
        yield g, g_kl


def test_projected_update_never_opposes_the_kl_gradient():
    conflicts = 0
    for g, g_kl in _pairs():
        conflicts += int(torch.dot(g, g_kl) < 0)
        out = prograd_project(g, g_kl, lam=1.0)
        tol = 1e-5 * out.norm() * g_kl.norm()
        assert torch.dot(out, g_kl) >= -tol
        assert torch.dot(out, g) >= 0  # still a descent direction for the CE loss
    assert conflicts >= 250


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.8, 1.0])
def test_projection_only_removes_the_conflicting_share(lam):
    for g, g_kl in _pairs(200):
        dot = torch.dot(g, g_kl)
        out = prograd_project(g, g_kl, lam)
        if dot >= 0:
            assert torch.equal(out, g)
        else:
            # lam < 1 (0.8 on Flowers/DTD/EuroSAT) keeps (1 - lam) of the conflict.
            torch.testing.assert_close(torch.dot(out, g_kl), (1 - lam) * dot, rtol=1e-4, atol=1e-4 * g.norm() * g_kl.norm())


def test_template_words_put_the_class_last():
    assert template_words("a photo of a {}.") == "a photo of a"
    assert template_words("a photo of a {}, a type of pet.") == "a type of pet, a photo of a"
    assert template_words("{} texture.") == "texture"


def test_lambda_defaults_follow_the_paper():
    cls = METHODS.get("prograd")
    assert cls.default_config("oxford_flowers", 16)["lam"] == 0.8
    assert cls.default_config("eurosat", 8)["lam"] == 0.8
    assert cls.default_config("dtd", 4)["lam"] == 1.0
    assert cls.default_config("imagenet", 16)["lam"] == 1.0
    assert cls.manual_backward


@pytest.fixture(scope="module")
def method():
    torch.manual_seed(0)
    backbone = build_backbone("micro_clip_random")
    task = TaskInfo("sklearn_digits", tuple(f"digit {i}" for i in range(10)), shots=4)
    cls = METHODS.get("prograd")
    return cls(build_config(cls.Config, cls.default_config(task.dataset, task.shots), "prograd"), backbone, task)


def _reference_grads(method, features, labels):
    """g and g_kl computed independently of the method's training step."""
    ctx = method.ctx
    logits = method.logits_from_features(features)
    zs = method.backbone.logit_scale * F.normalize(features, dim=-1) @ method.zero_shot_classifier.t()
    ce = F.cross_entropy(logits, labels)
    kl = (F.softmax(zs, -1) * (F.log_softmax(zs, -1) - F.log_softmax(logits, -1))).sum(-1).mean()
    (g,) = torch.autograd.grad(ce, [ctx], retain_graph=True)
    (g_kl,) = torch.autograd.grad(kl, [ctx])
    return g.flatten(), g_kl.flatten(), zs


@pytest.mark.parametrize("labels_from", ["agree", "conflict"])
def test_training_step_sets_projected_grads(method, labels_from):
    torch.manual_seed(1)
    features = method.backbone.encode_image(torch.randn(16, 3, 32, 32))
    method.train()
    method.ctx.grad = None
    _, _, zs = _reference_grads(method, features, torch.zeros(16, dtype=torch.long))
    # Labels the zero-shot model agrees with, or the ones it finds least likely.
    labels = zs.argmax(-1) if labels_from == "agree" else zs.argmin(-1)
    g, g_kl, _ = _reference_grads(method, features, labels)
    out = method.training_step({"features": features, "labels": labels, "index": torch.arange(16)})
    assert not out["loss"].requires_grad
    dot = torch.dot(g, g_kl)
    expected = g - (dot / g_kl.dot(g_kl)) * g_kl if dot < 0 else g  # lam = 1 by default
    grad = method.ctx.grad.flatten()
    # The projection cancels most of g: compare at the scale of the gradient.
    torch.testing.assert_close(grad, expected, rtol=0, atol=1e-4 * float(g.abs().max()))
    assert torch.dot(grad, g_kl) >= -1e-5 * grad.norm() * g_kl.norm()
    if labels_from == "conflict":
        assert dot < 0, "the conflict case should exercise the projection"
    assert all(p.grad is None for p in method.backbone.parameters())
