"""The learning rate of every epoch equals the released schedule of each method:
Dassl's warm-up + cosine for the CoOp family, LORE's per-epoch cosine, both checked
against torch's own CosineAnnealingLR stepped as the releases step it."""
from __future__ import annotations

import pytest
import torch

from lore_bench.methods import METHODS
from lore_bench.methods.lore import Lore
from lore_bench.methods.recipes import published_defaults
from lore_bench.suite.engine.fit import lr_at
from lore_bench.suite.schedules import lore_bench_cosine
from lore_bench.suite.training import TrainingConfig


def recipe_training(method: str, dataset: str, shots: int, recipe: str = "authors", **ctx) -> TrainingConfig:
    _, training = published_defaults(METHODS.get(method), dataset, shots, recipe, **ctx)
    return TrainingConfig(**{**TrainingConfig().to_dict(), **training})


def torch_dassl(epochs: int, lr: float, warmup_lr: float) -> list[float]:
    """What Dassl's trainer sees: epoch 0 at the constant warm-up rate, then a
    CosineAnnealingLR(T_max=epochs) starting from lr (WARMUP_RECOUNT), stepped per epoch."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    out = [warmup_lr]
    for _ in range(1, epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def torch_lore(epochs: int, lr: float, min_lr: float) -> list[float]:
    """LORE's fs_dta.py / eth_dta.py: CosineAnnealingLR(T_max=epochs, eta_min), step after each epoch."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=min_lr)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_maple_and_vpt_run_the_released_five_epochs():
    # The figures for 5 epochs at lr 0.0035 (MaPLe's config; VPT's has lr 0.0025).
    cfg = recipe_training("maple", "dtd", 16)
    assert [lr_at(e, cfg) for e in range(cfg.epochs)] == pytest.approx([1e-5, 0.0035, 0.00317, 0.00229, 0.00121],
                                                                       rel=2e-3)
    vpt = recipe_training("vpt", "dtd", 16)
    assert [lr_at(e, vpt) for e in range(vpt.epochs)] == pytest.approx([1e-5, 0.0025, 0.002261, 0.001636, 0.000864],
                                                                       rel=2e-3)


@pytest.mark.parametrize("method, dataset, shots", [
    ("coop", "flowers102", 1), ("coop", "flowers102", 4), ("coop", "flowers102", 16), ("coop", "imagenet", 16),
    ("cocoop", "dtd", 16), ("maple", "eurosat", 8), ("vpt", "ucf101", 16), ("prograd", "dtd", 8),
    ("clip_adapter", "stanford_cars", 2),
])
@pytest.mark.parametrize("recipe", ["authors", "lore_bench"])
def test_coop_family_lr_of_every_epoch_is_dassls(method, dataset, shots, recipe):
    cfg = recipe_training(method, dataset, shots, recipe)
    expected = torch_dassl(cfg.epochs, cfg.lr, cfg.warmup_lr)
    assert [lr_at(e, cfg) for e in range(cfg.epochs)] == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_dassl_schedule_keeps_more_rate_than_the_squeezed_cosine():
    """Why it matters: lore-bench's original cosine over E-1 epochs trains with less total lr."""
    for epochs, ratio in [(5, 0.86), (10, 0.91)]:
        cfg = TrainingConfig(epochs=epochs, lr=1.0, schedule="dassl_cosine")
        dassl = sum(lr_at(e, cfg) for e in range(epochs))
        squeezed = sum(lore_bench_cosine(e, epochs, 1.0, 0.0, 1, 1e-5) for e in range(epochs))
        assert squeezed / dassl == pytest.approx(ratio, abs=0.005)


@pytest.mark.parametrize("dataset, shots, backbone, protocol", [
    ("cifar10", 16, "clip_vit_b16_openai", "few_shot"), ("imagenet", 16, "clip_vit_b32_openai", "few_shot"),
    ("eurosat", 8, "clip_vit_b16_openai", "easy_to_hard"), ("sklearn_digits", 2, None, None),
])
@pytest.mark.parametrize("recipe", ["authors", "lore_bench", "paper"])
def test_lore_lr_of_every_epoch_is_its_released_cosine(dataset, shots, backbone, protocol, recipe):
    ctx = {"backbone": backbone, "protocol": protocol}
    cfg = recipe_training("lore", dataset, shots, recipe, **ctx)
    expected = torch_lore(cfg.epochs, cfg.lr, cfg.min_lr)
    assert [lr_at(e, cfg) for e in range(cfg.epochs)] == pytest.approx(expected, rel=1e-9)
    if protocol == "easy_to_hard":
        hard = TrainingConfig(**{**cfg.to_dict(), **Lore.hard_stage_training(dataset, shots, recipe, backbone=backbone)})
        assert [lr_at(e, hard) for e in range(5)] == pytest.approx(torch_lore(5, hard.lr, hard.min_lr), rel=1e-9)


def test_schedule_errors_are_clear():
    with pytest.raises(ValueError, match="dassl_cosine"):
        TrainingConfig(schedule="step")
    with pytest.raises(ValueError, match="warmup_epochs: 0"):
        lr_at(0, TrainingConfig(schedule="lore_cosine", warmup_epochs=1))
