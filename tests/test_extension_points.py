"""Datasets and backbone families written outside lore-bench reach a suite
without editing it (the plugins in tests/plugins/)."""
from __future__ import annotations

import textwrap

import pytest

from conftest import TESTS_DIR
from lore_bench import run_trial
from lore_bench.suite.config import SuiteError, load_suite
from lore_bench.suite.expand import expand


def installed_entry_point(tmp_path, group: str, line: str) -> None:
    """An installed distribution, as pip would leave it: a dist-info with entry_points.txt."""
    dist = tmp_path / "lb_test_plugin-1.0.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lb-test-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{group}]\n{line}\n")


@pytest.fixture
def plugins_on_path(monkeypatch):
    monkeypatch.syspath_prepend(f"{TESTS_DIR}/plugins")


def test_dataset_plugin_through_an_entry_point(tmp_path, monkeypatch, plugins_on_path):
    installed_entry_point(tmp_path, "lore_bench.datasets", "lb_stripes = lb_dataset_plugin:Stripes")
    monkeypatch.syspath_prepend(str(tmp_path))
    from lore_bench.benchmarks import DATASETS

    DATASETS.names()
    # entry points are read again, as a new process would read them
    monkeypatch.setattr(DATASETS, "_items", dict(DATASETS._items))
    monkeypatch.setattr(DATASETS, "_lazy", dict(DATASETS._lazy))
    monkeypatch.setattr(DATASETS, "_loaded", False)
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent("""\
        name: t
        backbones: [micro_clip_random]
        datasets: [lb_stripes]
        methods: {linear_probe: {}}
        protocol: {shots: [4], seeds: [1]}
        """))
    (spec,) = expand(load_suite(suite))
    row = run_trial(spec).rows[0]
    assert row["status"] == "ok" and row["dataset"] == "lb_stripes" and row["num_train"] == 8
    assert row["top1"] > 50  # stripes are linearly separable from any features worth the name


def test_backbone_plugin_from_the_suite(tmp_path, plugins_on_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent("""\
        name: t
        backbones: [{plugin: "lb_backbone_plugin:build", arch: vit_tiny_patch16_224, name: tiny_vit_32}]
        datasets: [sklearn_digits]
        methods: {linear_probe: {}, vpt: {training: {epochs: 1}}}
        protocol: {shots: [2], seeds: [1], eval_subset: 100}
        training: {augment: false}
        """))
    specs = expand(load_suite(suite))
    assert {s.backbone_name for s in specs} == {"tiny_vit_32"}
    for spec in specs:
        row = run_trial(spec).rows[0]
        assert row["status"] == "ok" and row["backbone"] == "tiny_vit_32"


def test_unknown_backbone_type_is_named(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: t\nbackbones: [{type: open_clp, arch: x}]\ndatasets: [mnist]\nmethods: {coop: {}}\n")
    with pytest.raises(SuiteError) as err:
        load_suite(suite)
    assert err.value.field == "backbones.0.type" and "open_clip" in err.value.message
