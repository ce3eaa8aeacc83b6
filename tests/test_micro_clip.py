"""micro-CLIP: the shipped weights load through open_clip and classify real digits zero-shot;
the trimmed token table round-trips; the pretraining data stream is deterministic and
its captions stay inside the trained vocabulary."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lore_bench.backbones import micro_clip
from tools.micro_clip import synthetic


@pytest.fixture(scope="module")
def backbone():
    from lore_bench.backbones import build_backbone

    return build_backbone("micro_clip")


def test_zero_shot_above_chance_on_sklearn_digits(backbone):
    import open_clip

    from lore_bench.benchmarks.base import get_dataset

    ds = get_dataset("sklearn_digits")
    split = ds.load_split("test")
    idx = np.random.default_rng(0).choice(len(split), 300, replace=False)
    tf = open_clip.image_transform(backbone.info.image_size, is_train=False, mean=backbone.info.mean, std=backbone.info.std)
    images = torch.stack([tf(split.load(int(i))) for i in idx])
    with torch.no_grad():
        text = backbone.text.encode_texts([ds.template.format(c) for c in ds.classnames])
        feats = torch.nn.functional.normalize(backbone.encode_image(images), dim=-1)
    acc = float(((feats @ text.T).argmax(-1).numpy() == split.labels[idx]).mean())
    assert acc > 0.3, f"zero-shot {acc:.3f} on sklearn digits (chance 0.1; the shipped weights give ~0.57)"


def test_shipped_file_is_small_and_trimmed():
    from safetensors import safe_open

    path = micro_clip.weights_path("lore-bench-v1")
    assert path.stat().st_size < 5_000_000
    with safe_open(str(path), "pt") as f:
        ids = f.get_tensor(micro_clip.TOKEN_IDS_KEY)
        assert f.get_tensor("token_embedding.weight").shape[0] == len(ids) < 1000
        assert f.get_tensor("visual.conv1.weight").dtype == torch.float16
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["generator"] == synthetic.GENERATOR_VERSION and record["steps"] > 0
    # every word of the default suite's prompts has a trained row (no fallback vector)
    import open_clip

    tok = open_clip.get_tokenizer("ViT-B-16")
    prompt_ids = {t for text in synthetic.eval_prompt_texts() for t in tok.encode(text)}
    assert prompt_ids <= set(ids.tolist())


def test_trimmed_token_table_round_trip():
    full = torch.randn(50, 4)
    state = {"token_embedding.weight": full.clone(), "other": torch.ones(2)}
    ids = torch.tensor([0, 3, 7, 49])
    trimmed = micro_clip.trim_token_embedding(state, ids)
    assert trimmed["token_embedding.weight"].shape == (4, 4)
    back = micro_clip.expand_token_embedding(trimmed, 50)
    assert micro_clip.TOKEN_IDS_KEY not in back
    table = back["token_embedding.weight"]
    assert torch.equal(table[ids], full[ids])
    unused = torch.ones(50, dtype=torch.bool)
    unused[ids] = False
    assert torch.allclose(table[unused], full[ids].mean(0).expand(int(unused.sum()), -1))
    assert torch.equal(back["other"], state["other"])


def test_loaded_model_is_a_plain_open_clip_model(backbone):
    # full 49,408-row table, open_clip's own tokenizer: unseen words still encode
    assert backbone.text.token_embedding.num_embeddings == 49408
    feats = backbone.text.encode_texts(["a photo of a zebra.", "a photo of the digit 7."])
    assert feats.shape == (2, backbone.text.embed_dim) and torch.isfinite(feats).all()


def test_generator_is_deterministic_and_batches_differ():
    gen = synthetic.CaptionedImages(seed=0)
    a_img, a_cap = gen.batch(5, 24)
    b_img, b_cap = synthetic.CaptionedImages(seed=0).batch(5, 24)
    assert a_img.shape == (24, 32, 32, 3) and a_img.dtype == np.uint8
    assert np.array_equal(a_img, b_img) and a_cap == b_cap
    c_img, _ = gen.batch(6, 24)
    assert not np.array_equal(a_img, c_img)
    d_img, _ = synthetic.CaptionedImages(seed=1).batch(5, 24)
    assert not np.array_equal(a_img, d_img)


def test_captions_stay_inside_the_trained_vocabulary():
    import open_clip

    from tools.micro_clip.pretrain import CompactTokenizer

    micro_clip.register_config()
    tokenize = CompactTokenizer(open_clip.get_tokenizer(micro_clip.ARCH), synthetic.eval_prompt_texts())
    gen = synthetic.CaptionedImages(seed=0)
    captions = [c for i in range(8) for c in gen.batch(i, 64)[1]]
    tokens = tokenize(captions)  # raises on a token outside the vocabulary
    assert tokens.max() == len(tokenize.token_ids) - 1  # end-of-text stays the largest id


def test_pretrain_smoke_writes_loadable_weights(tmp_path):
    import open_clip

    from tools.micro_clip import pretrain

    out = tmp_path / "w.safetensors"
    pretrain.main(["--steps", "2", "--batch", "8", "--workers", "0", "--threads", "1",
                   "--eval-sets", "", "--out", str(out)])
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["steps"] == 2 and record["stopped_by"] == "steps"
    micro_clip.register_config()
    model = open_clip.create_model(micro_clip.ARCH, pretrained=None)
    micro_clip.PRETRAINED["_test"] = str(out)
    try:
        micro_clip.load_pretrained(model, "_test")
    finally:
        del micro_clip.PRETRAINED["_test"]
