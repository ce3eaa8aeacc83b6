"""Tip-Adapter-F: the training-free cache, alpha / beta searched by leave-one-out
on the training shots only (a test split that raises while the method prepares
and trains), the released search grid and per-dataset configs."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from lore_bench.methods import METHODS, PrepareContext, TaskInfo
from lore_bench.methods.base import build_config
from lore_bench.methods.tip_adapter import leave_one_out_search, search_grid

TASK = TaskInfo("sklearn_digits", ("0", "1", "2"), "a photo of the digit {}.", shots=4)


def test_search_grid_is_the_releases():
    grid = search_grid(7.0, 200)  # ImageNet's beta range
    assert len(grid) == 200 and grid[0] == pytest.approx(0.1) and grid[1] == pytest.approx(0.1 + 6.9 / 200)
    assert grid[-1] < 7.0


def test_leave_one_out_search_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    n, classes = 18, 3
    labels = torch.arange(n) % classes
    feats = F.normalize(torch.randn(n, 8, generator=g) + 2 * F.one_hot(labels, 8).float(), dim=-1)
    values = F.one_hot(labels, classes).float()
    clip = torch.randn(n, classes, generator=g)
    betas, alphas = search_grid(6.0, 7), search_grid(4.0, 5)
    best, pick = -1.0, None
    for b in betas:
        for a in alphas:
            hits = 0
            for i in range(n):
                keep = torch.arange(n) != i  # the shot's own entry is left out
                cache = torch.exp(-b * (1 - feats[i] @ feats[keep].t())) @ values[keep]
                hits += int((clip[i] + a * cache).argmax() == labels[i])
            if hits / n > best:  # strict: ties keep the first pair, as the release
                best, pick = hits / n, (float(b), float(a))
    beta, alpha, acc = leave_one_out_search(feats, labels, values, clip, betas, alphas, chunk=5)
    assert (beta, alpha) == pytest.approx(pick) and acc == pytest.approx(best)
    # Without leaving out, every shot would find itself (affinity 1) and the
    # largest alpha would look perfect: the search must not see that.
    assert acc < 1.0


def build(backbone, shots=4, **cfg):
    cls = METHODS.get("tip_adapter_f")
    task = TaskInfo(TASK.dataset, TASK.classnames, TASK.template, shots=shots)
    return cls(build_config(cls.Config, {**cls.default_config(task.dataset, shots), **cfg}, cls.name), backbone, task)


def prepare(method, images, labels):
    def features():
        with torch.no_grad():
            return method.backbone.encode_image(images)

    method.prepare(PrepareContext(torch.device("cpu"), labels, "main", lambda: iter(()), features))


def test_cache_is_the_normalised_shots_and_one_shot_keeps_the_init(tiny_backbone):
    images = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    method = build(tiny_backbone, shots=2)
    prepare(method, images, labels)
    with torch.no_grad():
        want = F.normalize(tiny_backbone.encode_image(images), dim=-1)
    assert torch.allclose(method.keys, want) and method.keys.requires_grad
    assert torch.equal(method.values, F.one_hot(labels, 3).float())
    assert float(method.beta) in search_grid(method.cfg.beta_max, 200).tolist()
    one = build(tiny_backbone, shots=1)
    prepare(one, images[:3], labels[:3])
    assert (float(one.alpha), float(one.beta)) == pytest.approx((one.cfg.init_alpha, one.cfg.init_beta))
    assert one.keys.shape == (3, tiny_backbone.info.feature_dim)


def test_released_configs():
    cls = METHODS.get("tip_adapter_f")
    assert cls.default_config("imagenet", 16) == {"init_alpha": 1.17, "beta_max": 7.0, "alpha_max": 3.0}
    assert cls.default_config("flowers102", 16) == {"init_alpha": 10.0, "beta_max": 50.0, "alpha_max": 50.0}
    assert cls.default_training("eurosat", 16)["epochs"] == 100
    t = cls.default_training("dtd", 16)
    assert (t["epochs"], t["lr"], t["batch_size"], t["optimizer"], t["warmup_epochs"]) == (20, 1e-3, 256, "adamw", 0)


class Guarded:
    """A test split that raises when read while ``state['fitting']`` is set."""

    def __init__(self, split, state):
        self._split, self._state = split, state

    def _check(self, what):
        if self._state["fitting"]:
            raise AssertionError(f"the test split was read during prepare/fit ({what})")
        self._state["reads"] += 1

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        self._check(name)
        return getattr(self._split, name)

    def __len__(self):
        self._check("len")
        return len(self._split)


def test_search_and_training_never_read_the_test_split(monkeypatch, tiny_backbone):
    from conftest import make_spec
    from lore_bench.suite.engine import context
    from lore_bench.suite.protocols import ProtocolInputs, few_shot

    state = {"fitting": False, "reads": 0, "method": None}
    guard = Guarded(None, state)
    with pytest.raises(AssertionError, match="during prepare/fit"):  # the guard bites
        state["fitting"] = True
        len(guard)
    state["fitting"] = False

    real_splits, real_fit = context.load_splits, few_shot.fit

    def splits(name, root):
        train, test = real_splits(name, root)
        return train, Guarded(test, state)

    def fit(run, train, stage, cfg, *args, **kwargs):
        state["fitting"], state["method"] = True, run.method
        try:
            return real_fit(run, train, stage, cfg, *args, **kwargs)
        finally:
            state["fitting"] = False

    monkeypatch.setattr(context, "load_splits", splits)
    monkeypatch.setattr(few_shot, "fit", fit)
    spec = make_spec("tip_adapter_f", shots=4, training={"epochs": 2, "augment": False})
    out = few_shot.FewShot.run(ProtocolInputs(spec, tiny_backbone, torch.device("cpu"), None, None))
    method = state["method"]
    assert state["reads"] > 0, "evaluation reads the test split after fit"
    assert out.rows[0]["top1"] is not None and out.rows[0]["trainable_params"] == 10 * 4 * 128
    grid_b, grid_a = search_grid(method.cfg.beta_max, 200).tolist(), search_grid(method.cfg.alpha_max, 20).tolist()
    assert float(method.beta) in grid_b and float(method.alpha) in grid_a, "alpha / beta come from the search"
