"""The tuned protocol: expansion, hold-out validation from the training shots,
the choice of the best configuration, and that a search never reads the test split."""
from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest

from conftest import TESTS_DIR
from lore_bench import run_trial
from lore_bench.methods.registry import METHODS
from lore_bench.methods.search_space import Around, Choice, EpochShare, sample_configs, split_keys
from lore_bench.suite.config import SuiteError, load_suite
from lore_bench.suite.expand import expand
from lore_bench.suite.protocols.tuned import Tuned, search_specs
from lore_bench.suite.protocols.tuned_trials import holdout_split, pick_best
from lore_bench.suite.training import TrainingConfig


def _suite(tmp_path, methods="{clip_adapter: {}}", dataset="sklearn_digits", shots="[1, 4]", extra=""):
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: tuned_test
        results: {tmp_path / 'results'}
        backbones: [micro_clip_random]
        datasets: [{dataset}]
        methods: {methods}
        protocol: {{name: tuned, shots: {shots}, seeds: [1], configs: 3, max_epochs: 2, eval_subset: 60{extra}}}
        training: {{epochs: 3, augment: false}}
        resources: {{cpu: 1, gpu: 0, retries: 0}}
        """))
    return load_suite(path)


def _by_role(specs):
    roles = {}
    for s in specs:
        roles.setdefault((s.protocol, s.protocol_config.get("role"), s.shots), []).append(s)
    return roles


def test_expansion_recipe_searches_and_a_final_that_depends_on_them(tmp_path):
    specs = expand(_suite(tmp_path))
    roles = _by_role(specs)
    (recipe,) = roles[("few_shot", None, 4)]
    (final,) = roles[("tuned", "final", 4)]
    searches = roles[("tuned", "search", 4)]
    assert len(searches) == 3 and recipe.protocol_config == {"eval_subset": 60}
    assert [s.trial_id for s in Tuned.dependencies(final)] == [s.trial_id for s in searches]
    first = searches[0].protocol_config["searched"]
    # config 0 is the recipe, its epochs capped at the per-configuration budget
    assert first["lr"] == recipe.training["lr"] and first["epochs"] == 2 and first["ratio"] == 0.2
    assert len({json.dumps(s.protocol_config["searched"], sort_keys=True) for s in searches}) == 3
    assert all(s.training["epochs"] <= 2 for s in searches)
    # deterministic: the same suite expands to the same trial ids
    assert [s.trial_id for s in expand(_suite(tmp_path))] == [s.trial_id for s in specs]
    # one shot per class: nothing to hold out, no search
    (final_1,) = roles[("tuned", "final", 1)]
    assert Tuned.dependencies(final_1) == [] and ("tuned", "search", 1) not in roles
    # only search trials are stoppable, grouped by their final trial
    assert Tuned.early_stopping(final) is None and Tuned.early_stopping(searches[1]).group == final.trial_id


def test_a_method_without_a_search_space_runs_its_recipe(tmp_path):
    specs = expand(_suite(tmp_path, methods="{linear_probe: {}}", shots="[4]"))
    assert {s.protocol_config.get("role") for s in specs} == {None, "final"}


def test_bad_protocol_keys_are_named(tmp_path):
    with pytest.raises(SuiteError) as err:
        _suite(tmp_path, extra=", scheduler: hyperbnd")
    assert "scheduler" in str(err.value) and "asha" in str(err.value)
    with pytest.raises(SuiteError) as err:
        _suite(tmp_path, extra=", val_share: 1.0")
    assert "val_share" in str(err.value)


def test_every_method_declares_a_valid_search_space():
    for name in METHODS.names():
        cls = METHODS.get(name)
        space = cls.search_space()
        split_keys(space, cls.Config, TrainingConfig.field_names(), name)  # raises on an unknown key
        if cls.uses_training_data and name != "linear_probe":
            assert {"lr", "weight_decay", "epochs"} <= set(space), name
    # ProGrad's context length is fixed by its template's words: CoOp's n_ctx is not ProGrad's knob
    assert "n_ctx" not in METHODS.get("prograd").search_space()


def test_sampling_is_centred_on_the_recipe_and_reproducible():
    space = {"lr": Around(10.0), "epochs": EpochShare((0.5, 1.0)), "n_ctx": Choice((4, 8))}
    a = sample_configs(space, {"n_ctx": 16}, {"lr": 0.002, "epochs": 50}, 20, 10, ("m", "d", 1))
    assert a == sample_configs(space, {"n_ctx": 16}, {"lr": 0.002, "epochs": 50}, 20, 10, ("m", "d", 1))
    assert a[0] == {"lr": 0.002, "epochs": 10, "n_ctx": 16}
    assert all(0.0002 <= c["lr"] <= 0.02 and c["epochs"] in (5, 10) and c["n_ctx"] in (4, 8) for c in a[1:])


def test_holdout_split_takes_a_share_of_each_class_from_the_shots():
    labels = np.repeat(np.arange(3), 10)
    shots = np.array([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23])  # 4 shots per class
    fit_idx, val_idx = holdout_split(labels, shots, 0.25, "d", 4, 1)
    assert sorted(np.concatenate([fit_idx, val_idx])) == sorted(shots)
    assert np.bincount(labels[val_idx]).tolist() == [1, 1, 1]
    assert holdout_split(labels, shots, 0.25, "d", 4, 1)[1].tolist() == val_idx.tolist()


def test_pick_best_prefers_configurations_that_ran_their_budget():
    records = [{"config": 0, "epochs": 4, "scores": [50, 60, 70, 70], "completed": False},  # ASHA's stop at max_t
               {"config": 1, "epochs": 4, "scores": [90], "completed": False},  # stopped early
               {"config": 2, "epochs": 2, "scores": [40, 70], "completed": True},
               {"config": 3, "epochs": 4, "scores": [99], "diverged": True}]
    assert pick_best(records)["config"] == 0  # ties go to the lower index (the recipe)


@pytest.fixture
def sealed_dataset(monkeypatch, tmp_path):
    """lb_sealed_test registered as a third party would (an entry point), in
    this process and in any Ray worker it starts."""
    from test_extension_points import installed_entry_point

    plugins = os.path.join(TESTS_DIR, "plugins")
    monkeypatch.syspath_prepend(plugins)
    dist = str(tmp_path / "site")
    os.makedirs(dist)
    installed_entry_point(tmp_path / "site", "lore_bench.datasets", "lb_sealed_test = lb_sealed_test_plugin:SealedTest")
    monkeypatch.syspath_prepend(dist)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([plugins, dist, os.environ.get("PYTHONPATH", "")]))
    from lore_bench.benchmarks import DATASETS

    DATASETS.names()
    monkeypatch.setattr(DATASETS, "_items", dict(DATASETS._items))
    monkeypatch.setattr(DATASETS, "_lazy", dict(DATASETS._lazy))
    monkeypatch.setattr(DATASETS, "_loaded", False)


def test_a_search_trial_reads_no_test_split_in_process(tmp_path, sealed_dataset):
    from lb_sealed_test_plugin import TestSplitRead

    specs = expand(_suite(tmp_path, dataset="lb_sealed_test", shots="[4]"))
    (final,) = [s for s in specs if s.protocol_config.get("role") == "final"]
    for spec in search_specs(final):
        assert run_trial(spec, checkpoint_dir=tmp_path / "ckpt").rows[0]["status"] == "ok"
    with pytest.raises(TestSplitRead):  # the final trial does test, once
        run_trial(final, checkpoint_dir=tmp_path / "ckpt")


@pytest.mark.slow
def test_search_then_final_in_process(tmp_path):
    specs = expand(_suite(tmp_path, shots="[4]"))
    (final,) = [s for s in specs if s.protocol_config.get("role") == "final"]
    ckpt = tmp_path / "ckpt"
    search_rows = [run_trial(s, checkpoint_dir=ckpt).rows[0] for s in search_specs(final)]
    assert all(r["stage"] == "search" and r["eval_split"] == "val" and r.get("top1") is None for r in search_rows)
    assert all(r["num_eval"] == 10 and r["num_train"] == 30 for r in search_rows)  # 1 of 4 shots x 10 classes
    row = run_trial(final, checkpoint_dir=ckpt).rows[0]
    best = max(search_rows, key=lambda r: (r["val_top1"], -json.loads(r["spec_json"])["protocol_config"]["config"]))
    assert row["tuned_config"] == best["tuned_config"] and row["val_top1"] == best["val_top1"]
    assert row["search_configs"] == 3 and row["num_train"] == 40 and row["eval_split"] == "test"
    assert json.loads(row["training_config"])["lr"] == json.loads(best["tuned_config"])["lr"]
    assert row["trial_id"] == final.trial_id and row["test_correct"]


def test_the_search_never_reads_a_test_image_through_ray(tmp_path, sealed_dataset):
    """The search trials run through the driver, Tune and ASHA on a dataset whose
    test split raises: they are stored ok; the trials that test (the recipe, the
    final) fail on exactly that."""
    from lore_bench.results.store import ResultsStore
    from lore_bench.suite.orchestrate.driver import RunOptions, run_suite

    suite = _suite(tmp_path, dataset="lb_sealed_test", shots="[4]")
    specs = expand(suite)
    summary = run_suite(specs, RunOptions(results_dir=str(tmp_path / "results"), dashboard=False, num_cpus=2,
                                          retries=0, auth=False), printer=lambda s: None)
    df = ResultsStore(tmp_path / "results").trials()
    search = df[df["stage"] == "search"]
    assert len(search) == 3 and (search["status"] == "ok").all() and search["val_top1"].notna().all()
    others = df[df["stage"] != "search"]
    assert len(others) == 2 and (others["status"] == "failed").all()  # the recipe and the final trial
    assert others["error"].str.contains("test split of lb_sealed_test was read").all()
    assert summary.failed == 2 and summary.ok == 3
