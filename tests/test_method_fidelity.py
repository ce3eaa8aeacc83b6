"""Method details as the releases have them: ProGrad's word-counted context from its own
templates, VPT-on-CLIP's fixed classifier template, MaPLe's copied couplings, the
paper's KLA (Eq. 5-7), and LORE's release options (raw class names, confusing-label
template and backbone, the eval-mode quirk)."""
from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from lore_bench.backbones import build_backbone
from lore_bench.methods import METHODS, PrepareContext, TaskInfo
from lore_bench.methods._lore_kla import KnowledgeLocalityAttentionPaper
from lore_bench.methods._prompting import template_classifier
from lore_bench.methods.base import build_config


@pytest.fixture(scope="module")
def micro():
    return build_backbone("micro_clip_random")


def build(name, backbone, task, recipe="lore_bench", **overrides):
    cls = METHODS.get(name)
    cfg = {**cls.default_config(task.dataset, task.shots or 16, recipe), **overrides}
    torch.manual_seed(0)
    return cls(build_config(cls.Config, cfg, name), backbone, task)


# -- ProGrad ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dataset, template, words, n_words, n_tokens", [
    ("flowers102", "a photo of a {}, a type of flower.", "a type of flower, a photo of a", 8, 9),
    ("dtd", "{} texture.", "a texture of", 3, 3),
])
def test_prograd_counts_words_of_its_own_template(micro, dataset, template, words, n_words, n_tokens):
    task = TaskInfo(dataset, ("rose", "sun flower"), template=template, shots=16)
    m = build("prograd", micro, task)
    text = micro.text
    ids = text.tokenize([words])[0]
    word_ids = ids[1:int(ids.argmax())]
    assert len(word_ids) == n_tokens
    n_zero = 16 - n_words
    assert torch.count_nonzero(m.ctx[:n_zero]) == 0
    torch.testing.assert_close(m.ctx[n_zero:], text.token_embedding(word_ids[:n_words]).float())
    # Tokens the word count leaves out stay fixed text right before the class name.
    prompt = m.prompts.tokens[0]
    assert torch.equal(prompt[1 + 16 : 1 + 16 + n_tokens - n_words], word_ids[n_words:])
    # The zero-shot teacher uses the same (ProGrad's) template.
    prograd_template = f"{words} {{}}."
    torch.testing.assert_close(m.zero_shot_classifier, template_classifier(text, prograd_template, task.classnames))


def test_prograd_outside_its_datasets_moves_the_class_last(micro):
    task = TaskInfo("cifar100", ("apple", "maple tree"), template="a photo of a {}, which is red.", shots=16)
    m = build("prograd", micro, task)
    assert m.template == "which is red, a photo of a {}."


# -- VPT and MaPLe ----------------------------------------------------------------------------

def test_vpt_on_clip_classifies_with_a_photo_of_a(micro):
    task = TaskInfo("dtd", ("banded", "bumpy"), template="{} texture.")
    fixed = build("vpt", micro, task)
    torch.testing.assert_close(fixed.classifier, template_classifier(micro.text, "a photo of a {}.", task.classnames))
    own = build("vpt", micro, task, template="")
    torch.testing.assert_close(own.classifier, template_classifier(micro.text, "{} texture.", task.classnames))


def test_maple_deeper_couplings_start_as_copies_of_one_linear(micro):
    m = build("maple", micro, TaskInfo("unit", ("a", "b")))
    first, deeper = m.coupling[0], list(m.coupling)[1:]
    assert len(deeper) == m.depth - 1 >= 2
    for c in deeper[1:]:
        assert torch.equal(c.weight, deeper[0].weight) and torch.equal(c.bias, deeper[0].bias)
        assert c.weight.data_ptr() != deeper[0].weight.data_ptr()  # copies, not shared parameters
    assert not torch.equal(first.weight, deeper[0].weight)


# -- KLA, paper variant -----------------------------------------------------------------------

def test_kla_paper_variant_is_eq_5_to_7():
    torch.manual_seed(0)
    d, e, p, n = 32, 16, 49, 9
    kla = KnowledgeLocalityAttentionPaper(d, e, p, n)
    assert kla.query.weight.shape == (d, e) and kla.key.weight.shape == kla.value.weight.shape == (d, d)
    assert kla.query.bias is None and not hasattr(kla, "proj")
    patches, q = torch.randn(3, p, d), F.normalize(torch.randn(5, e), dim=-1)
    s = (q @ kla.query.weight.t()) @ (patches @ kla.key.weight.t()).transpose(1, 2) / math.sqrt(d)
    kept = s.topk(n, dim=-1).indices
    filtered = torch.zeros_like(s).scatter(-1, kept, s.gather(-1, kept))  # the rest set to 0, not -inf
    a = filtered.softmax(-1) @ (patches @ kla.value.weight.t())
    expected = kla.norm((kla.mlp(a) + a).reshape(-1, d)).reshape(3, 5, d)
    torch.testing.assert_close(kla(patches, q), expected)
    assert (kla.scores(patches, q) > 0).all()  # zeroed scores still get softmax weight


# -- LORE's release options -------------------------------------------------------------------

def lore_task(dataset="cifar100"):
    return TaskInfo(dataset, ("aquarium fish", "apple", "maple tree"), lore_template="This is a photo of a {}.")


def test_lore_raw_knowledge_names_keep_the_releases_underscores(micro):
    task = lore_task()
    raw = build("lore", micro, task, knowledge_names="raw")
    clean = build("lore", micro, task)
    names = ["aquarium_fish", "apple", "maple_tree"]
    torch.testing.assert_close(raw.knowledge, template_classifier(micro.text, task.lore_template, names,
                                                                  keep_underscores=True))
    torch.testing.assert_close(clean.knowledge, template_classifier(micro.text, task.lore_template, task.classnames))
    assert not torch.allclose(raw.knowledge, clean.knowledge)
    # A dataset whose release list has spaces keeps them.
    flowers = build("lore", micro, lore_task("flowers102"), knowledge_names="raw")
    torch.testing.assert_close(flowers.knowledge, template_classifier(micro.text, task.lore_template, task.classnames))


def _prepare(model, n=6, size=32):
    g = torch.Generator().manual_seed(1)
    batch = {"images": torch.randn(n, 3, size, size, generator=g), "labels": torch.arange(n) % 3, "index": torch.arange(n)}
    model.prepare(PrepareContext(device=torch.device("cpu"), labels=batch["labels"], stage="main",
                                 _batches=lambda: [batch], _features=None))
    return batch


def _zero_shot(backbone, images, template, names, raw):
    cls = template_classifier(backbone.text, template, names, keep_underscores=raw)
    with torch.no_grad():
        return (F.normalize(backbone.encode_image(images), dim=-1) @ cls.t()).argmax(-1)


def test_lore_authors_confusing_labels_template_names_and_backbone(micro):
    other = build_backbone("micro_clip")  # stands in for the ViT-B/16 labels of the ViT-B/32 runs
    model = build("lore", micro, lore_task(), confusing_names="raw", confusing_template="a photo of a {}",
                  confusing_backbone="micro_clip")
    batch = _prepare(model)
    expected = _zero_shot(other, batch["images"], "a photo of a {}", ["aquarium_fish", "apple", "maple_tree"], True)
    assert torch.equal(model.confusing_labels, expected)
    # (The trial's own tower would have picked other labels: the backbone choice is seen.)
    assert not torch.equal(expected, _zero_shot(micro, batch["images"], "a photo of a {}",
                                                ["aquarium_fish", "apple", "maple_tree"], True))
    own = build("lore", micro, lore_task())
    batch = _prepare(own)
    assert torch.equal(own.confusing_labels, _zero_shot(micro, batch["images"], "a photo of a {}.",
                                                        lore_task().classnames, False))


def test_lore_eval_mode_quirk_freezes_modes_after_the_first_step(micro):
    model = build("lore", micro, lore_task(), eval_mode_quirk=True)
    bn = model.pg.psi1[1]
    model.train()
    assert model.pg.training and model.lin.training  # the first epoch trains in train mode
    g = torch.Generator().manual_seed(2)
    batch = {"images": torch.randn(4, 3, 32, 32, generator=g), "labels": torch.tensor([0, 1, 2, 0]),
             "index": torch.arange(4)}
    model.set_confusing_labels(torch.tensor([1, 1, 2, 2]))
    model.training_step(batch)["loss"].backward()
    model.train()  # the engine's call at the next epoch
    assert not model.pg.training and not model.lin.training and not model.training
    before = bn.running_mean.clone()
    model.training_step(batch)["loss"].backward()
    assert torch.equal(bn.running_mean, before)  # BatchNorm statistics frozen, as in the release
    resumed = build("lore", micro, lore_task(), eval_mode_quirk=True)
    resumed.load_trainable_state_dict(model.trainable_state_dict())
    resumed.train()
    assert not resumed.pg.training  # a trial resumed from a checkpoint keeps the quirk
    plain = build("lore", micro, lore_task())
    plain.train()
    plain.set_confusing_labels(torch.tensor([1, 1, 2, 2]))
    plain.training_step(batch)["loss"].backward()
    plain.train()
    assert plain.pg.training and "quirk_trained" not in plain.trainable_state_dict()
