"""The paper's grids shipped in lore_bench/suites/ validate and expand to the right trials."""
from collections import Counter

import pytest

from lore_bench.suite.config import load_suite
from lore_bench.suite.expand import expand

from lore_bench.cli import SUITES_DIR as SUITES  # noqa: E402
PAPER_12 = {"flowers102", "stanford_cars", "fgvc_aircraft", "stanford_dogs", "cifar10", "cifar100", "dtd",
            "imagenet", "eurosat", "resisc45", "ucf101", "patternnet"}


@pytest.mark.parametrize("file,trials,protocol", [
    ("table1_fewshot_vitb16.yaml", 7 * 12 * 2 * 3, "few_shot"),
    ("table2_fewshot_vitb32.yaml", 6 * 12 * 2 * 3, "few_shot"),
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
                                               ["coop", "cocoop", "maple", "prograd", "clip_adapter", "vpt", "lore"]}
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
