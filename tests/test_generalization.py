"""The generalization protocols (issue 17): CoCoOp's class split, which methods
apply and what the expansion says about the others, re-pointing a trained
method at new class names, the rows a trial stores, and the report's tables."""
from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest
import torch

from cli_inprocess import run_cli
from lore_bench import run_trial
from lore_bench.backbones import build_backbone
from lore_bench.benchmarks.splits.base_novel import base_novel_labels
from lore_bench.methods.base import Method
from lore_bench.methods.registry import METHODS
from lore_bench.suite.config import SuiteError, load_suite
from lore_bench.suite.engine.context import build_method, task_info
from lore_bench.suite.expand import expand, expansion_notes
from lore_bench.suite.grid import trial_spec

GENERALIZATION = ("base_to_novel", "cross_dataset", "domain_generalization")
CLOSED_SET = {"lore", "linear_probe", "tip_adapter_f"}


def suite(tmp_path, protocol, methods="{zeroshot_clip: {}, coop: {n_ctx: 4}, linear_probe: {}, lore: {}}",
          extra="", datasets="[sklearn_digits]"):
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent(f"""\
        name: g
        backbones: [micro_clip_random]
        datasets: {datasets}
        methods: {methods}
        protocol: {{name: {protocol}, shots: [2], seeds: [1, 2], eval_subset: 60{extra}}}
        training: {{epochs: 1, augment: false}}
        """))
    return load_suite(p)


def test_class_halves_follow_cocoops_rule():
    assert base_novel_labels(range(10)) == {"base": [0, 1, 2, 3, 4], "novel": [5, 6, 7, 8, 9]}
    assert base_novel_labels([2, 0, 1, 2]) == {"base": [0, 1], "novel": [2]}  # ceil(3 / 2) = 2
    assert base_novel_labels([7, 3, 5, 1, 9]) == {"base": [1, 3, 5], "novel": [7, 9]}  # sorted ids, not order seen


def test_ls_protocols_lists_the_three():
    out = run_cli(["ls", "protocols"])
    assert out.code == 0 and all(name in out.out for name in GENERALIZATION)


def test_every_method_declares_whether_it_scores_unseen_classes():
    for name in METHODS.names():
        cls = METHODS.get(name)
        overrides = cls.retarget is not Method.retarget
        assert cls.scores_unseen_classes == overrides, name
        assert cls.scores_unseen_classes == (name not in CLOSED_SET), name
    assert not METHODS.get("vpt").can_score_unseen_classes({"type": "timm"})


def test_base_to_novel_skips_closed_set_methods_with_a_note(tmp_path):
    s = suite(tmp_path, "base_to_novel")
    specs = expand(s)
    assert {sp.method for sp in specs} == {"zeroshot_clip", "coop"}
    assert {sp.protocol for sp in specs} == {"base_to_novel"}  # zero-shot too: scored on the same halves
    assert [(sp.shots, sp.seed) for sp in specs if sp.method == "zeroshot_clip"] == [(0, 1)]
    [note] = expansion_notes(s)
    assert "linear_probe" in note and "lore" in note and "not applicable" in note
    out = run_cli(["run", s.path, "--dry-run", "--results", tmp_path / "r"])
    assert out.code == 0 and "base_to_novel" in out.out and "note: base_to_novel: not applicable" in out.err


def test_transfer_protocols_decide_applicability_by_the_targets(tmp_path):
    same = expand(suite(tmp_path, "domain_generalization", extra=", targets: [mnist]"))
    assert {sp.method for sp in same} == {"zeroshot_clip", "coop", "linear_probe", "lore"}
    other = suite(tmp_path, "cross_dataset", extra=", targets: [mnist, textures]")
    assert {sp.method for sp in expand(other)} == {"zeroshot_clip", "coop"} and expansion_notes(other)
    with pytest.raises(SuiteError) as err:
        expand(suite(tmp_path, "domain_generalization", extra=", targets: [textures]"))
    assert err.value.field == "protocol.targets.0" and "cross_dataset" in err.value.message
    with pytest.raises(SuiteError) as err:
        suite(tmp_path, "cross_dataset", extra=", targets: [mnsit]")
    assert err.value.field == "protocol.targets.0" and "mnist" in err.value.message


@pytest.mark.parametrize("method,config", [("coop", {"n_ctx": 4}), ("maple", {}), ("clip_adapter", {})])
def test_retarget_equals_a_method_built_for_the_new_classes(method, config):
    """A trained method re-pointed at other names scores exactly like one built
    for those names with the same trained state."""
    backbone = build_backbone("micro_clip_random", weights=False)
    spec = trial_spec(method, "sklearn_digits", "micro_clip_random", 2, 1, method_config=config)
    from lore_bench.benchmarks import get_dataset

    digits = get_dataset("sklearn_digits")
    trained = build_method(spec, backbone, torch.device("cpu"), task=task_info(digits, 2, [0, 1, 2, 3, 4]))
    with torch.no_grad():
        for p in trained.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.1)  # "trained": away from the init
    novel = task_info(digits, 2, [5, 6, 7, 8, 9])
    fresh = build_method(spec, backbone, torch.device("cpu"), task=novel)
    fresh.load_trainable_state_dict(trained.trainable_state_dict())
    trained.retarget(novel)
    images = torch.randn(3, 3, backbone.info.image_size, backbone.info.image_size)
    with torch.no_grad():
        assert torch.allclose(trained.eval()(images), fresh.eval()(images), atol=1e-5)
    assert trained.task.classnames == ("5", "6", "7", "8", "9") and trained.task.shots == 2


def test_closed_set_method_refuses_to_retarget():
    backbone = build_backbone("micro_clip_random", weights=False)
    spec = trial_spec("linear_probe", "sklearn_digits", "micro_clip_random", 2, 1)
    method = build_method(spec, backbone, torch.device("cpu"))
    with pytest.raises(NotImplementedError, match="closed-set"):
        method.retarget(method.task)


def test_base_to_novel_trial_trains_on_base_shots_and_scores_both_halves(tmp_path):
    [spec] = [s for s in expand(suite(tmp_path, "base_to_novel", "{coop: {n_ctx: 4}}")) if s.seed == 1]
    rows = run_trial(spec, checkpoint_dir=tmp_path / "ck").rows
    assert [r["eval_split"] for r in rows] == ["base", "novel"] and {r["status"] for r in rows} == {"ok"}
    assert all(r["num_train"] == 2 * 5 for r in rows)  # 2 shots x the 5 base digits
    assert rows[0]["num_eval"] + rows[1]["num_eval"] == 60  # the eval subset, split by class half
    assert len(json.loads(rows[1]["per_class_acc"])) == 5  # a 5-way novel classifier


@pytest.mark.slow  # the fast Ray test below runs the same path through the CLI
def test_domain_generalization_trial_scores_source_and_target(tmp_path):
    specs = expand(suite(tmp_path, "domain_generalization", "{linear_probe: {}}", extra=", targets: [mnist]"))
    rows = run_trial(specs[0], checkpoint_dir=tmp_path / "ck").rows
    assert [r["eval_split"] for r in rows] == ["test", "mnist/test"]
    assert all(r["status"] == "ok" and r["dataset"] == "sklearn_digits" and r["top1"] is not None for r in rows)


def _rows(records):
    base = {"backbone": "clip_vit_b16_openai", "status": "ok", "stage": "main", "shots": 16,
            "spec_json": json.dumps({"backbone": {"type": "open_clip"}})}
    return pd.DataFrame([{**base, **r} for r in records])


def test_report_tables_compute_hm_compare_with_published_and_mark_not_applicable():
    from lore_bench.plots.tables.generalization import base_to_novel_tables, harmonic_mean, transfer_tables

    assert harmonic_mean(82.28, 75.14) == pytest.approx(78.55, abs=0.005)  # MaPLe Table 1's average
    datasets = [f"d{i}" for i in range(11)]
    records = [{"method": "maple", "protocol": "base_to_novel", "dataset": d, "seed": seed, "eval_split": split,
                "top1": value + seed - 2}
               for d in datasets for seed in (1, 2, 3) for split, value in (("base", 80.0), ("novel", 70.0))]
    records.append({"method": "lore", "protocol": "few_shot", "dataset": "d0", "seed": 1, "eval_split": "test",
                    "top1": 90.0})
    [table] = base_to_novel_tables(_rows(records))
    avg = table.data[(table.data["method"] == "maple") & (table.data["dataset"] == "Average")].iloc[0]
    assert (avg["base"], avg["novel"]) == (80.0, 70.0) and avg["hm"] == pytest.approx(2 * 80 * 70 / 150)
    assert avg["published_hm"] == 78.55 and avg["delta_hm"] == pytest.approx(avg["hm"] - 78.55)
    assert [c.text for c in table.rows[-1][:3]] == ["lore", "all", "not applicable"]

    transfer = [{"method": "coop", "protocol": "cross_dataset", "dataset": "imagenet", "seed": 1,
                 "eval_split": split, "top1": v} for split, v in (("test", 70.0), ("dtd/test", 40.0),
                                                                   ("eurosat/test", 50.0))]
    [xd] = transfer_tables(_rows(transfer), "cross_dataset", "Cross-dataset transfer")
    assert xd.header[:4] == ["Method", "imagenet (source)", "dtd", "eurosat"]
    assert [c.text for c in xd.rows[0][1:5]] == ["70.00", "40.00", "50.00", "45.00"]


@pytest.mark.parametrize("file,trials,methods", [
    ("base_to_novel_vitb16.yaml", 8 * 11 * 3 + 11, 9),
    ("cross_dataset_vitb16.yaml", 8 * 3 + 1, 9),
    ("domain_generalization_vitb16.yaml", 11 * 3 + 1, 12),
])
def test_paper_sized_suites_expand(file, trials, methods):
    from lore_bench.suite.config import SHIPPED_SUITES as SUITES_DIR

    specs = expand(load_suite(SUITES_DIR / file))
    assert len(specs) == trials and len({s.method for s in specs}) == methods
    assert {s.recipe for s in specs} == {"authors"} and {s.backbone_name for s in specs} == {"clip_vit_b16_openai"}


@pytest.mark.slow  # decodes and caches the fixture images: ~30 s on a busy 2-core machine
def test_domain_generalization_on_imagenet_layouts_scores_a_over_its_200_style_subset(tmp_path):
    """ImageNet -> ImageNet-A / -V2 in their real layouts: the target rows come
    from the test split alone, and -A is scored over its ImageNet classes only."""
    import warnings

    from fixtures.paper_datasets import _image, _write
    from fixtures.transfer_datasets import WNIDS, make_imagenet_a, make_imagenet_v2

    base = tmp_path / "imagenet"
    _write(base / "classnames.txt", "\n".join(f"{w} {n}" for w, n in WNIDS) + "\n")
    for label, (wnid, _) in enumerate(WNIDS):
        for k in range(2):
            _image(base / "train" / wnid / f"{wnid}_{k}.JPEG", label * 7 + k)
        _image(base / "val" / wnid / f"v_{wnid}.JPEG", label)
    make_imagenet_a(tmp_path)
    make_imagenet_v2(tmp_path)
    spec = trial_spec("linear_probe", "imagenet", "micro_clip_random", 2, 1, protocol="domain_generalization",
                      protocol_config={"targets": ["imagenet_a", "imagenet_v2"]}, data_root=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fixture counts differ from the published ones
        rows = run_trial(spec, checkpoint_dir=tmp_path / "ck").rows
    assert [r["eval_split"] for r in rows] == ["test", "imagenet_a/test", "imagenet_v2/test"]
    assert [r["num_eval"] for r in rows] == [5, 6, 10] and {r["status"] for r in rows} == {"ok"}
    assert len(json.loads(rows[1]["per_class_acc"])) == 2  # a 2-way decision over -A's two ImageNet classes
