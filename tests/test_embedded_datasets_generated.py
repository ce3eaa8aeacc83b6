"""The generated `locality` set and the cut-up `textures` set: deterministic, balanced,
with train and test disjoint, and disjoint from micro-CLIP's pretraining stream."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from lore_bench.benchmarks.base import get_dataset
from lore_bench.benchmarks.datasets import locality, textures


def _arrays(split):
    return np.stack([np.asarray(split.load(i)) for i in range(len(split))])


def _hashes(images) -> set[str]:
    return {hashlib.sha1(im.tobytes()).hexdigest() for im in images}


@pytest.mark.parametrize("name", ["locality", "textures"])
def test_splits_are_balanced_rgb_32px(name):
    ds = get_dataset(name)
    for split_name in ("train", "test"):
        split = ds.load_split(split_name)
        counts = np.bincount(split.labels, minlength=len(ds.classnames))
        assert len(set(counts.tolist())) == 1 and counts[0] > 50
        img = split.load(0)
        assert img.mode == "RGB" and img.size == (32, 32)
        assert "{}" in ds.template


@pytest.mark.parametrize("module", [locality, textures])
def test_deterministic_across_rebuilds(module):
    name = "locality" if module is locality else "textures"
    first = _arrays(get_dataset(name).load_split("test"))
    cached = module._generate if module is locality else module._patches
    cached.cache_clear()
    again = _arrays(get_dataset(name).load_split("test"))
    assert np.array_equal(first, again)


@pytest.mark.parametrize("name", ["locality", "textures"])
def test_train_and_test_share_no_image(name):
    ds = get_dataset(name)
    train = _hashes(_arrays(ds.load_split("train")))
    test = _hashes(_arrays(ds.load_split("test")))
    assert not train & test


def test_texture_bands_share_no_pixel_row():
    (tr0, tr1), (te0, te1) = textures.BANDS["train"], textures.BANDS["test"]
    assert tr1 <= te0 and tr0 < tr1 and te0 < te1 <= 512
    # every train window ends inside the train band
    last_top = max(range(tr0, tr1 - textures.WINDOW + 1, textures.STRIDE))
    assert last_top + textures.WINDOW <= tr1


def test_locality_motif_is_the_only_class_signal():
    # same seed, different motif: the clutter is identical, only the motif differs
    a = locality.render(np.random.default_rng([1, 2, 3]), "ring")
    b = locality.render(np.random.default_rng([1, 2, 3]), "cross")
    differs = np.argwhere((a != b).any(-1))
    assert 0 < len(differs)
    extent = differs.max(0) - differs.min(0) + 1
    assert (extent <= 11).all(), f"motif spans {extent} px; it should be a small local patch"


def test_pretraining_stream_never_draws_an_evaluation_image():
    from tools.micro_clip import synthetic

    assert synthetic.STREAM_TAG != locality.STREAM_TAG
    evaluation = _hashes(_arrays(get_dataset("locality").load_split("test")))
    evaluation |= _hashes(_arrays(get_dataset("textures").load_split("test")))
    pretraining = _hashes(synthetic.CaptionedImages(seed=0).batch(0, 128)[0])
    assert not pretraining & evaluation


def test_class_names_are_in_the_pretraining_vocabulary():
    from tools.micro_clip import synthetic

    assert list(synthetic.LOCALITY_SHAPES) == get_dataset("locality").classnames
    assert list(synthetic.TEXTURES) == get_dataset("textures").classnames
    assert synthetic.EVAL_PROMPTS["locality"][0] == get_dataset("locality").template
    assert synthetic.EVAL_PROMPTS["textures"][0] == get_dataset("textures").template
