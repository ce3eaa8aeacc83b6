"""Protocols are plugins: the contract every registered protocol keeps, a
protocol written outside lore-bench, and protocol keys that only count where
they mean something."""
from __future__ import annotations

import dataclasses
import textwrap

import pytest

from conftest import TESTS_DIR
from lore_bench import run_trial
from lore_bench.methods.base import ConfigError
from lore_bench.suite.config import SuiteError, load_suite
from lore_bench.suite.expand import expand
from lore_bench.suite.protocols import PROTOCOLS, Protocol
from lore_bench.suite.protocols.base import parse_config

SUITE = """\
name: t
backbones: [micro_clip_random]
datasets: [sklearn_digits]
methods:
  zeroshot_clip: {{}}
  coop: {{n_ctx: 4}}
protocol: {{name: {name}, shots: [2], seeds: [1]{extra}}}
training: {{epochs: 1, augment: false}}
"""
PLUGIN = "lb_protocol_plugin:AllImages"


def suite_file(tmp_path, name="few_shot", extra=""):
    p = tmp_path / "suite.yaml"
    p.write_text(textwrap.dedent(SUITE.format(name=name, extra=extra)))
    return p


@pytest.mark.parametrize("name", PROTOCOLS.names())
def test_protocol_contract(name):
    cls = PROTOCOLS.get(name)
    assert issubclass(cls, Protocol) and cls.name == name
    assert dataclasses.is_dataclass(cls.Config)
    assert (cls.__doc__ or "").strip(), "a protocol says what it does (lore-bench ls protocols)"
    parse_config(cls, {})  # every key has a default
    with pytest.raises(ConfigError) as err:
        parse_config(cls, {"not_a_key": 1})
    assert err.value.field == "not_a_key"
    assert cls.dataset_names(), "a protocol accepts some datasets"


# frozen: tests/test_frozen_suite.py; the generalization protocols (zero-shot methods
# stay under them, transfer targets to name): tests/test_generalization.py
OWN_TESTS = {"frozen_features", "base_to_novel", "cross_dataset", "domain_generalization"}


@pytest.mark.parametrize("name", [n for n in PROTOCOLS.names() if PROTOCOLS.get(n).selectable
                                  and n not in OWN_TESTS])
def test_classification_protocols_expand_and_run(tmp_path, name):
    specs = expand(load_suite(suite_file(tmp_path, name)))
    # the tuned protocol also emits each cell's recipe (few_shot) trial, to compare with
    assert {s.protocol for s in specs} == {name, "zero_shot"} | ({"few_shot"} if name == "tuned" else set())
    coop = [s for s in specs if s.method == "coop" and s.protocol == name][-1]
    for dep in PROTOCOLS.get(name).dependencies(coop):  # the tuned protocol's search trials
        run_trial(dep, checkpoint_dir=tmp_path / "ckpt")
    rows = run_trial(coop, checkpoint_dir=tmp_path / "ckpt").rows
    assert rows and all(r["status"] == "ok" and r["protocol"] == name and r["top1"] is not None for r in rows)


def test_a_key_of_another_protocol_is_an_error_not_a_new_trial_id(tmp_path):
    with pytest.raises(SuiteError) as err:
        load_suite(suite_file(tmp_path, "few_shot", ", hard_epochs: 3"))
    assert err.value.field == "protocol.hard_epochs" and "few_shot" in err.value.message
    ok = expand(load_suite(suite_file(tmp_path, "easy_to_hard", ", hard_epochs: 3")))
    assert all(s.protocol_config.get("hard_epochs") == 3 for s in ok if s.protocol == "easy_to_hard")


def test_protocol_values_are_checked(tmp_path):
    with pytest.raises(SuiteError) as err:
        load_suite(suite_file(tmp_path, "easy_to_hard", ", difficulty: hearding"))
    assert err.value.field == "protocol.difficulty" and "herding" in err.value.message
    with pytest.raises(SuiteError) as err:
        load_suite(suite_file(tmp_path, "easy_to_hard", ", hard_epochs: -1"))
    assert err.value.field == "protocol.hard_epochs"
    with pytest.raises(SuiteError) as err:
        load_suite(suite_file(tmp_path, "zero_shot"))
    assert "assigned by the expansion" in err.value.message
    with pytest.raises(SuiteError) as err:
        load_suite(suite_file(tmp_path, "few_sot"))
    assert "few_shot" in err.value.message


def test_protocol_plugin_from_the_suite(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(f"{TESTS_DIR}/plugins")
    specs = expand(load_suite(suite_file(tmp_path, f"all_images, plugin: '{PLUGIN}'")))
    coop = next(s for s in specs if s.method == "coop")
    assert coop.protocol == "all_images" and coop.protocol_plugin == PLUGIN and coop.shots == 0
    row = run_trial(coop).rows[0]
    from lore_bench.benchmarks import get_dataset

    assert row["status"] == "ok" and row["num_train"] == len(get_dataset("sklearn_digits").load_split("train"))
    # the protocol's own keys are checked like a built-in's
    with pytest.raises(SuiteError) as err:
        load_suite(suite_file(tmp_path, f"all_images, plugin: '{PLUGIN}', eval_subst: 5"))
    assert err.value.field == "protocol.eval_subst" and "eval_subset" in err.value.message


def test_protocol_plugin_through_an_entry_point(tmp_path, monkeypatch):
    dist = tmp_path / "lb_protocol_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lb-protocol-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[lore_bench.protocols]\nall_images = {PLUGIN}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(f"{TESTS_DIR}/plugins")
    from lore_bench.plugins import Registry

    fresh = Registry("protocol", "lore_bench.suite.protocols", "lore_bench.protocols", base=Protocol)
    assert "all_images" in fresh.names()
    assert fresh.get("all_images").__module__ == "lb_protocol_plugin"
