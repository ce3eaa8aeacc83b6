"""Feature-cache keys carry everything that changes a feature (issue 12): the
tower's weights, the compute precision, the transform, the format version and
the images' content; a cached tensor handed out cannot be changed in the cache."""
from __future__ import annotations

import copy
import dataclasses
from contextlib import nullcontext

import numpy as np
import pytest
import torch

from lore_bench.benchmarks.base import array_split
from lore_bench.suite.engine import feature_cache
from lore_bench.suite.engine.feature_cache import cached_features, compute_features, feature_key

CFG = {"name": "micro_clip_random"}
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LORE_BENCH_CACHE", str(tmp_path))
    feature_cache.clear_memory_cache()
    yield
    feature_cache.clear_memory_cache()


@pytest.fixture
def split():
    rng = np.random.default_rng(0)
    return array_split("toy", rng.integers(0, 255, (12, 32, 32, 3), dtype=np.uint8), np.arange(12) % 3)


def features(backbone, split, autocast=nullcontext, precision="cpu-float32"):
    return cached_features(backbone, CFG, split, "toy", CPU, 8, autocast, precision)


def test_other_weights_under_the_same_config_get_their_own_features(tiny_backbone, split):
    features(tiny_backbone, split)
    retrained = copy.deepcopy(tiny_backbone)  # e.g. new weights published under the same name
    with torch.no_grad():
        retrained.visual.proj.mul_(2.0)
    got = features(retrained, split)
    assert torch.allclose(got, compute_features(retrained, split, CPU, 8, nullcontext), atol=1e-6)
    assert not torch.allclose(got, features(tiny_backbone, split))


def test_precision_is_part_of_the_key(tiny_backbone, split):
    fp32 = features(tiny_backbone, split)

    def bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)

    got = features(tiny_backbone, split, bf16, "cpu-bfloat16")
    assert torch.equal(got, compute_features(tiny_backbone, split, CPU, 8, bf16))
    assert not torch.equal(got, fp32)


def test_image_content_is_part_of_the_key(tiny_backbone, split):
    features(tiny_backbone, split)
    images = np.zeros((12, 32, 32, 3), dtype=np.uint8)  # same keys and labels, other pixels
    other = array_split("toy", images, split.labels)
    assert other.keys == split.keys
    assert torch.allclose(features(tiny_backbone, other), compute_features(tiny_backbone, other, CPU, 8, nullcontext),
                          atol=1e-6)


def test_transform_and_format_version_are_part_of_the_key(tiny_backbone, split, monkeypatch):
    key = feature_key(tiny_backbone, CFG, split, "toy", "cpu-float32")
    other_norm = copy.copy(tiny_backbone)
    other_norm.info = dataclasses.replace(tiny_backbone.info, mean=(0.5, 0.5, 0.5))
    assert feature_key(other_norm, CFG, split, "toy", "cpu-float32") != key
    monkeypatch.setattr(feature_cache, "FORMAT_VERSION", feature_cache.FORMAT_VERSION + 1)
    assert feature_key(tiny_backbone, CFG, split, "toy", "cpu-float32") != key


def test_a_split_without_pixel_identity_is_not_cached(tiny_backbone, split, tmp_path):
    from lore_bench.benchmarks.base import ImageSplit

    anonymous = ImageSplit(split.keys, split.labels, split.load)
    assert feature_key(tiny_backbone, CFG, anonymous, "toy", "cpu-float32") is None
    features(tiny_backbone, anonymous)
    assert not (tmp_path / "features").exists()


def test_features_handed_out_cannot_change_the_cache(tiny_backbone, split):
    first = features(tiny_backbone, split)
    reference = first.clone()
    first.mul_(0)  # a method normalising "its" features in place
    assert torch.equal(features(tiny_backbone, split), reference)
