"""The shared prompt-learning helpers behind CoOp, CoCoOp, ProGrad and MaPLe."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lore_bench.backbones import build_backbone
from lore_bench.methods import METHODS, TaskInfo
from lore_bench.methods._prompting import ClassPrompts, word_context
from lore_bench.methods.base import build_config
from lore_bench.methods.linear_probe import holdout_split

TASK = TaskInfo("sklearn_digits", ("zero", "one", "two"), "a photo of the digit {}.", shots=2)


@pytest.fixture(scope="module")
def backbone():
    return build_backbone("micro_clip_random")


def make(name, backbone, **cfg):
    cls = METHODS.get(name)
    return cls(build_config(cls.Config, {**cls.default_config(TASK.dataset, 2), **cfg}, name), backbone, TASK)


def test_word_context_pads_or_truncates(backbone):
    text = backbone.text
    prefix, init = word_context(text, "a photo of a", 6)  # ProGrad: zeros, then the words
    assert prefix == "X X a photo of a" and init.shape == (6, text.width)
    assert torch.all(init[:2] == 0)
    words = text.token_embedding(text.tokenize(["a photo of a"])[0, 1:5])
    torch.testing.assert_close(init[2:], words)
    prefix, init = word_context(text, "a photo of a", 2)  # MaPLe: learn "a photo", keep "of a"
    assert prefix == "a photo of a"
    torch.testing.assert_close(init, words[:2])


def test_prompt_embeddings_splice_the_context_after_sos(backbone):
    text = backbone.text
    prompts = ClassPrompts(text, ["one", "two"], "a photo of a", 4)
    emb = prompts.embed(text.token_embedding(prompts.tokens[0, 1:5]))
    # With the words' own embeddings as context, the prompt is the plain text.
    torch.testing.assert_close(emb[0], text.token_embedding(prompts.tokens[0]))


def test_per_sample_prompts_match_one_at_a_time(backbone):
    text = backbone.text
    prompts = ClassPrompts(text, ["one", "two", "three"], "X X X X", 4)
    ctx = torch.randn(5, 4, text.width)
    with torch.no_grad():
        batched = prompts.encode_per_sample(ctx, max_sequences=6)  # 2 samples per call
        single = torch.stack([prompts.encode(c) for c in ctx])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)


def test_eval_cache_follows_parameter_updates(backbone):
    method = make("coop", backbone).eval()
    with torch.no_grad():
        first = method.class_features()
        assert method.class_features() is first  # encoded once per evaluation
        method.ctx.add_(0.5)  # what an optimizer step does
        after = method.class_features()
        assert after is not first
        assert torch.equal(after, method.prompts.encode(method.ctx))
    assert method.class_features().requires_grad  # training never sees the cache


def test_maple_depth_is_capped_at_the_tower_depth(backbone):
    method = make("maple", backbone)
    assert method.depth == backbone.info.num_layers == 4
    assert len(method.vision_prompts()) == 4


def test_holdout_split_is_stratified_and_needs_two_shots():
    y = np.repeat(np.arange(3), 4)
    train, held = holdout_split(y, 0.25, seed=0)
    assert sorted(np.bincount(y[held])) == [1, 1, 1] and not set(train) & set(held)
    assert holdout_split(np.arange(3), 0.25, seed=0) is None  # 1 shot: fixed C
