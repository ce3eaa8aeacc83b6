"""Recipes pin every method's defaults to their sources: LORE's authors recipe row by
row against the 68 released configs shipped with the package, the baselines against
their released config values (facts below carry the repository file they come from)."""
from __future__ import annotations

import csv

import pytest

from lore_bench.methods import METHODS
from lore_bench.methods.base import build_config
from lore_bench.methods.lore import Lore
from lore_bench.methods.recipes import RECIPES, UnknownRecipeError, published_defaults
from lore_bench.methods.recipes import lore as lore_recipes
from lore_bench.suite.training import TrainingConfig


def _rows() -> list[dict]:
    with lore_recipes.TABLE.open(newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


ROWS = _rows()
ROW_IDS = [r["config_file"] for r in ROWS]


def test_the_shipped_table_holds_the_68_released_configs():
    assert len(ROWS) == 68
    assert len({(r["backbone"], r["protocol"], r["dataset"], r["shots"]) for r in ROWS}) == 68
    assert {r["backbone"] for r in ROWS} == {"clip_vit_b16_openai", "clip_vit_b32_openai"}
    # Spot checks against the JSON files of github.com/Mysteriousplayer/KGPT:
    by_file = {r["config_file"]: r for r in ROWS}
    b32_in16 = by_file["config_vitb32/In_cnet_fs16.json"]  # init_lr 0.008, batch_size 128, prompt_length 4 / _c 1
    assert (b32_in16["lr"], b32_in16["batch_size"], b32_in16["n_shared"], b32_in16["n_generated"]) == ("0.008", "128", "4", "1")
    sat_h16 = by_file["config_vitb16/sat_cnet_h16.json"]  # init_lr 0.002, init_lr_2 0.0001, wd 0.5, batch 16
    assert (sat_h16["lr"], sat_h16["hard_stage_lr"], sat_h16["weight_decay"], sat_h16["batch_size"]) == (
        "0.002", "0.0001", "0.5", "16")
    assert by_file["config_vitb32/cifar_cnet_fs8.json"]["weight_decay"] == "0.0001"
    assert by_file["config_vitb16/sat_cnet_fs16.json"]["lr"] == "0.0015"


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_lore_authors_recipe_is_the_released_config(row):
    ctx = {"backbone": row["backbone"], "protocol": row["protocol"]}
    dataset, shots = row["dataset"], int(row["shots"])
    training = Lore.default_training(dataset, shots, "authors", **ctx)
    assert training["epochs"] == int(row["epochs"])
    assert training["lr"] == float(row["lr"]) and training["min_lr"] == float(row["min_lr"])
    assert training["weight_decay"] == float(row["weight_decay"])
    assert training["batch_size"] == int(row["batch_size"])
    assert (training["optimizer"], training["momentum"], training["warmup_epochs"]) == ("sgd", 0.9, 0)
    assert training["schedule"] == "lore_cosine" and training["precision"] == "fp16"
    config = Lore.default_config(dataset, shots, "authors", **ctx)
    assert (config["n_shared"], config["n_generated"]) == (int(row["n_shared"]), int(row["n_generated"]))
    assert config["lam"] == float(row["lam_pull"]) == float(row["lam_push"])
    assert config["kla_variant"] == "code" and config["knowledge_names"] == "raw"
    assert config["confusing_template"] == "a photo of a {}"  # no period, as data_processing/get_data_*.py
    assert config.get("confusing_backbone", "") == ("clip_vit_b16_openai" if "b32" in row["backbone"] else "")
    build_config(Lore.Config, config, "lore")
    TrainingConfig(**{**TrainingConfig().to_dict(), **training})
    if row["protocol"] == "easy_to_hard":
        hard = Lore.hard_stage_training(dataset, shots, "authors", backbone=row["backbone"])
        assert (hard["epochs"], hard["lr"]) == (5, float(row["hard_stage_lr"]))  # eth_dta.py: run_epoch = 5
        assert hard["weight_decay"] == float(row["weight_decay"]) and hard["batch_size"] == int(row["batch_size"])


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_lore_bench_recipe_keeps_the_released_budget_without_the_defects(row):
    ctx = {"backbone": row["backbone"], "protocol": row["protocol"]}
    authors = Lore.default_training(row["dataset"], int(row["shots"]), "authors", **ctx)
    ours = Lore.default_training(row["dataset"], int(row["shots"]), "lore_bench", **ctx)
    assert {k: v for k, v in authors.items() if k != "precision"} == ours and "precision" not in ours
    config = Lore.default_config(row["dataset"], int(row["shots"]), "lore_bench", **ctx)
    assert (config["n_shared"], config["n_generated"]) == (int(row["n_shared"]), int(row["n_generated"]))
    assert not {"knowledge_names", "confusing_template", "confusing_backbone", "white_box_fp32"} & set(config)


def test_lore_paper_recipe_is_what_section_4_1_states():
    training = Lore.default_training("cifar10", 16, "paper")
    assert (training["epochs"], training["lr"], training["min_lr"]) == (50, 0.003, 1e-4)
    assert Lore.hard_stage_training("imagenet", 16, "paper")["lr"] == 5e-4  # the paper: 0.0005 -> 0.0001
    config = Lore.default_config("cifar10", 16, "paper", backbone="clip_vit_b32_openai")
    assert config == {"n_shared": 8, "n_generated": 2, "lam": 0.1, "reduction": 32, "kla_variant": "paper"}


def test_lore_fallbacks_where_nothing_was_released():
    # Cars, DTD, Flowers102, UCF101: no 16-per-stage easy-to-hard config -> their 8-per-stage one.
    for dataset, h8 in [("stanford_cars", "cars"), ("dtd", "dtd"), ("flowers102", "flower"), ("ucf101", "ucf")]:
        row = lore_recipes.find_release(dataset, 16, "clip_vit_b16_openai", "easy_to_hard")
        assert row.config_file == f"config_vitb16/{h8}_cnet_h8.json" and "no 16-per-stage" in row.note
    # ViT-B/32 easy-to-hard: the ViT-B/16 budget with the ViT-B/32 prompt counts.
    row = lore_recipes.find_release("dtd", 8, "clip_vit_b32_openai", "easy_to_hard")
    assert (row.config_file, row.n_shared, row.n_generated) == ("config_vitb16/dtd_cnet_h8.json", 4, 1)
    # Shots: up to 8 read the 8-shot config, above it the 16-shot one.
    assert lore_recipes.find_release("imagenet", 4).config_file == "config_vitb16/In_cnet_fs8.json"
    assert lore_recipes.find_release("imagenet", 32).config_file == "config_vitb16/In_cnet_fs16.json"
    # Backbones by architecture; everything that is not a ViT-B/32 reads the ViT-B/16 table.
    assert lore_recipes.table_backbone({"type": "open_clip", "arch": "ViT-B-32", "pretrained": "openai"}) == lore_recipes.B32
    assert lore_recipes.table_backbone("vit_b16_in21k") == lore_recipes.table_backbone("micro_clip") == lore_recipes.B16
    # A dataset outside the paper.
    assert Lore.default_training("sklearn_digits", 4)["weight_decay"] == 5e-4
    assert Lore.default_config("sklearn_digits", 4)["n_shared"] == 8


# -- the baselines ------------------------------------------------------------------------------

# Dassl.pytorch dassl/config/defaults.py (SGD momentum 0.9, wd 5e-4, WARMUP_RECOUNT True) and every
# trainer config below (cosine, WARMUP_EPOCH 1, constant 1e-5, random_resized_crop + random_flip);
# dassl/data/data_manager.py: drop_last when the split holds at least one batch.
DASSL = {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 5e-4, "warmup_epochs": 1, "warmup_lr": 1e-5,
         "min_lr": 0.0, "schedule": "dassl_cosine", "augment": True, "drop_last": True}
# (method, dataset, shots): released (epochs, lr, batch size), released precision, released method config.
BASELINES = [
    # KaiyangZhou/CoOp configs/trainers/CoOp/vit_b16{_ep50,_ep100,}.yaml + COOP.md (ImageNet: *_ep50); train.py PREC fp16 (pure: weights and vectors in half, no loss scaling).
    ("coop", "flowers102", 1, (50, 0.002, 32), "fp16_pure", {"n_ctx": 16, "ctx_init": ""}),
    ("coop", "flowers102", 4, (100, 0.002, 32), "fp16_pure", {"n_ctx": 16, "ctx_init": ""}),
    ("coop", "flowers102", 16, (200, 0.002, 32), "fp16_pure", {"n_ctx": 16, "ctx_init": ""}),
    ("coop", "imagenet", 16, (50, 0.002, 32), "fp16_pure", {"n_ctx": 16, "ctx_init": ""}),
    # CoOp configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml.
    ("cocoop", "dtd", 16, (10, 0.002, 1), "fp16_pure", {"n_ctx": 4, "ctx_init": "a photo of a"}),
    # multimodal-prompt-learning configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml.
    ("maple", "eurosat", 8, (5, 0.0035, 4), "fp16_pure", {"n_ctx": 2, "ctx_init": "a photo of a", "depth": 9}),
    # multimodal-prompt-learning configs/trainers/VPT/vit_b16_c2_ep5_batch4_4.yaml; trainers/vpt.py (fp32, template).
    ("vpt", "dtd", 16, (5, 0.0025, 4), "fp32", {"num_tokens": 8, "deep": True, "template": "a photo of a {}."}),
    # Prompt-align ProGrad.public configs/trainers/ProGrad/rn50*.yaml, README (lambda 0.8), trainers/prograd.py.
    ("prograd", "flowers102", 16, (200, 0.002, 32), "fp16_pure",
     {"n_ctx": 16, "lam": 0.8, "temperature": 1.0, "template": "a type of flower, a photo of a {}."}),
    ("prograd", "dtd", 4, (100, 0.002, 32), "fp16_pure", {"lam": 1.0, "template": "a texture of {}."}),
    ("prograd", "imagenet", 16, (50, 0.002, 32), "fp16_pure", {"lam": 1.0, "template": "a photo of a {}."}),
    ("prograd", "cifar100", 16, (200, 0.002, 32), "fp16_pure", {"lam": 1.0, "template": ""}),  # ProGrad never ran it
    # gaopengcuhk/CLIP-Adapter clip_adapter.py (reduction 4, ratio 0.2, clip_model.float()), CoOp's configs.
    ("clip_adapter", "stanford_cars", 8, (200, 0.002, 32), "fp32", {"reduction": 4, "ratio": 0.2}),
]


@pytest.mark.parametrize("method, dataset, shots, budget, precision, config", BASELINES,
                         ids=[f"{b[0]}-{b[1]}-{b[2]}" for b in BASELINES])
def test_baseline_recipes_are_the_released_values(method, dataset, shots, budget, precision, config):
    cls = METHODS.get(method)
    for recipe in RECIPES:
        cfg, training = published_defaults(cls, dataset, shots, recipe)
        assert (training["epochs"], training["lr"], training["batch_size"]) == budget
        assert {k: training[k] for k in DASSL} == DASSL
        assert training.get("precision") == (precision if recipe == "authors" else None)
        assert {k: cfg[k] for k in config} == config
        build_config(cls.Config, cfg, method)


@pytest.mark.parametrize("name", sorted(METHODS.names()))
def test_every_method_accepts_every_recipe_and_rejects_others(name):
    cls = METHODS.get(name)
    for recipe in RECIPES:
        cfg, training = published_defaults(cls, "flowers102", 16, recipe, backbone="clip_vit_b16_openai",
                                           protocol="few_shot")
        build_config(cls.Config, cfg, name)
        assert set(training) <= set(TrainingConfig.field_names())
    with pytest.raises(UnknownRecipeError, match="authors, paper, lore_bench"):
        published_defaults(cls, "flowers102", 16, "author")


def test_defaults_hooks_written_before_recipes_still_work():
    class OldStyle:
        @classmethod
        def default_config(cls, dataset, shots):
            return {"width": shots}

        @classmethod
        def default_training(cls, dataset, shots):
            return {"epochs": 3}

    assert published_defaults(OldStyle, "mnist", 4, "authors", backbone="micro_clip") == ({"width": 4}, {"epochs": 3})
    # The existing two-argument calls of the built-in hooks keep working (lore_bench recipe).
    assert Lore.default_training("eurosat", 16) == Lore.default_training("eurosat", 16, "lore_bench")
