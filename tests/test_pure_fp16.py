"""Precision ``fp16_pure``: the CoOp-family releases' pure fp16 (weights and
learned vectors in half, no autocast, no loss scaling). CUDA only; on a CPU it
runs in fp32 with a logged note. The half build is checked on a CPU by lifting
the CUDA requirement (CPU half kernels are slow, not wrong)."""
from __future__ import annotations

import logging

import pytest
import torch

from conftest import make_spec
from lore_bench import run_trial
from lore_bench.suite.engine import context
from lore_bench.suite.engine.context import build_method, precision_plan

CUDA, CPU = torch.device("cuda"), torch.device("cpu")


def test_precision_plans():
    pure = precision_plan(CUDA, "fp16_pure")
    assert (pure.param_dtype, pure.autocast_dtype, pure.loss_scaling, pure.note) == (torch.float16, None, False, None)
    fallback = precision_plan(CPU, "fp16_pure")
    assert fallback.param_dtype == torch.float32 and fallback.autocast_dtype is None
    assert "needs CUDA" in fallback.note
    amp = precision_plan(CUDA, "fp16")
    assert (amp.param_dtype, amp.autocast_dtype, amp.loss_scaling) == (torch.float32, torch.float16, True)
    assert precision_plan(CPU, "auto") == precision_plan(CPU, "fp32") == context.PrecisionPlan()


def _spec(method, precision):
    return make_spec(method=method, shots=1, protocol_config={"eval_subset": 20},
                     training={"epochs": 1, "augment": False, "batch_size": 4, "precision": precision})


@pytest.mark.parametrize("method", ["coop", "maple"])
def test_pure_fp16_builds_half_weights_and_steps(method, tiny_backbone, monkeypatch):
    monkeypatch.setattr(context, "PURE_HALF_NEEDS_CUDA", False)
    built = build_method(_spec(method, "fp16_pure"), tiny_backbone, CPU)
    assert {p.dtype for p in built.parameters()} == {torch.float16}  # the tower copy and the learned vectors
    params = list(built.trainable_parameters())
    assert params and {p.dtype for p in params} == {torch.float16}
    assert {p.dtype for p in tiny_backbone.parameters()} == {torch.float32}  # the cached tower is untouched
    size = tiny_backbone.info.image_size
    batch = {"images": torch.rand(2, 3, size, size, dtype=torch.float16), "labels": torch.tensor([0, 3]),
             "index": torch.tensor([0, 1])}
    out = built.training_step(batch)
    assert out["logits"].dtype == torch.float16 and torch.isfinite(out["loss"])
    before = [p.detach().clone() for p in params]
    out["loss"].backward()
    torch.optim.SGD(params, lr=0.1).step()  # fp16 update, no loss scaling
    assert any(not torch.equal(a, p) for a, p in zip(before, params))


@pytest.mark.slow  # four trials on micro-CLIP with CPU half kernels: ~2 min on 2 cores
@pytest.mark.parametrize("method", ["coop", "cocoop", "prograd", "maple"])
def test_pure_fp16_trial_runs_end_to_end(method, monkeypatch):
    monkeypatch.setattr(context, "PURE_HALF_NEEDS_CUDA", False)
    row = run_trial(_spec(method, "fp16_pure"), device="cpu").rows[0]
    assert row["status"] == "ok" and row["final_train_loss"] == row["final_train_loss"]  # finite


def test_pure_fp16_on_cpu_runs_fp32_with_a_note(tiny_backbone, caplog):
    spec = _spec("coop", "fp16_pure")
    with caplog.at_level(logging.WARNING):
        built = build_method(spec, tiny_backbone, CPU)
    assert {p.dtype for p in built.parameters()} == {torch.float32}
    assert any("fp16_pure needs CUDA" in r.getMessage() for r in caplog.records)


def test_methods_without_pure_fp16_are_refused(tiny_backbone, monkeypatch, tmp_path):
    monkeypatch.setattr(context, "PURE_HALF_NEEDS_CUDA", False)
    with pytest.raises(ValueError, match="does not run in precision fp16_pure"):
        build_method(_spec("lore", "fp16_pure"), tiny_backbone, CPU)
    from lore_bench.suite.config import SuiteError, load_suite

    path = tmp_path / "s.yaml"
    path.write_text("backbones: [micro_clip_random]\ndatasets: [sklearn_digits]\n"
                    "methods: {coop: {}, vpt: {}}\ntraining: {precision: fp16_pure}\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert info.value.field == "training.precision" and "vpt" in str(info.value)
