"""The paper's grids shipped in lore_bench/suites/ validate and expand to the right trials."""
from collections import Counter

import pytest

from lore_bench.suite.config import load_suite
from lore_bench.suite.expand import expand

from lore_bench.suite.config import SHIPPED_SUITES as SUITES  # noqa: E402
PAPER_12 = {"flowers102", "stanford_cars", "fgvc_aircraft", "stanford_dogs", "cifar10", "cifar100", "dtd",
            "imagenet", "eurosat", "resisc45", "ucf101", "patternnet"}


@pytest.mark.parametrize("file,trials,protocol", [
    ("table1_fewshot_vitb16.yaml", 10 * 12 * 2 * 3, "few_shot"),
    ("table2_fewshot_vitb32.yaml", 9 * 12 * 2 * 3, "few_shot"),
    ("table3_easy_to_hard.yaml", 6 * 12 * 2 * 3, "easy_to_hard"),
    ("table5_ablation.yaml", 3 * 4 * 2 * 3, "few_shot"),
])
def test_suite_expands(file, trials, protocol):
    specs = expand(load_suite(SUITES / file))
    assert len(specs) == trials and len({s.trial_id for s in specs}) == trials
    assert {s.protocol for s in specs} == {protocol}


def test_table1_grid():
    specs = expand(load_suite(SUITES / "table1_fewshot_vitb16.yaml"))
    assert {s.dataset for s in specs} == PAPER_12
    assert Counter(s.method for s in specs) == {m: 72 for m in
                                               ["coop", "cocoop", "maple", "prograd", "clip_adapter", "vpt", "lore",
                                                "clip_lora", "bitfit", "tip_adapter_f"]}
    assert {s.shots for s in specs} == {8, 16} and {s.seed for s in specs} == {1, 2, 3}
    assert {s.backbone_name for s in specs} == {"clip_vit_b16_openai"}


def test_table5_ablation_rows():
    specs = expand(load_suite(SUITES / "table5_ablation.yaml"))
    assert {s.dataset for s in specs} == {"cifar10", "cifar100", "dtd", "imagenet"}
    assert {s.backbone_name for s in specs} == {"clip_vit_b16_openai", "vit_b16_in21k"}
    without = [s for s in specs if s.method == "lore_without_kla"]
    assert len(without) == 24 and all(s.method_config["use_kla"] is False for s in without)
    assert all(s.method_config["use_kla"] for s in specs if s.method == "lore")


def test_table3_stage_settings():
    specs = expand(load_suite(SUITES / "table3_easy_to_hard.yaml"))
    assert all(s.protocol_config == {"difficulty": "herding", "hard_epochs": 5} for s in specs)


def test_extra_rows_carry_their_papers_recipes():
    # CLIP-LoRA, BitFit, Tip-Adapter-F: not in the LORE paper; each with its own release's recipe.
    specs = expand(load_suite(SUITES / "table1_fewshot_vitb16.yaml"))
    by = {(s.method, s.dataset, s.shots): s for s in specs if s.seed == 1}
    lora = by[("clip_lora", "imagenet", 16)]
    assert (lora.training["epochs"], lora.training["lr"], lora.training["optimizer"]) == (16, 2e-4, "adamw")
    assert lora.method_config["rank"] == 2 and lora.method_config["encoder"] == "both"
    # Flowers102 at 8 shots: ceil(816 / 32) = 26 iterations an epoch, ceil(4,000 / 26) = 154 epochs.
    assert by[("bitfit", "flowers102", 8)].training["epochs"] == 154
    tip = by[("tip_adapter_f", "eurosat", 16)]
    assert tip.training["epochs"] == 100 and tip.method_config["init_alpha"] == 2.0
    assert by[("tip_adapter_f", "flowers102", 16)].method_config["beta_max"] == 50.0
