"""Suite files: validation errors a user can act on; overrides; filters."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from lore_bench.suite.config import SuiteError, load_suite
from lore_bench.suite.expand import apply_only, expand, parse_only

GOOD = """\
name: t
backbones: [micro_clip_random]
datasets: [sklearn_digits]
methods:
  zeroshot_clip: {}
  coop: {n_ctx: 4, training: {epochs: 3}}
protocol: {name: few_shot, shots: [1, 4], seeds: [1, 2]}
training: {epochs: 2}
"""


def write(tmp_path, text, name="suite.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_good_suite_expands_to_the_grid(tmp_path):
    suite = load_suite(write(tmp_path, GOOD))
    specs = expand(suite)
    # zero-shot runs once (shots 0), coop over 2 shots x 2 seeds
    assert sorted((s.method, s.shots, s.seed) for s in specs) == [
        ("coop", 1, 1), ("coop", 1, 2), ("coop", 4, 1), ("coop", 4, 2), ("zeroshot_clip", 0, 1)]
    coop = [s for s in specs if s.method == "coop"][0]
    assert coop.training["epochs"] == 3  # per-method override beats the suite's global 2
    assert coop.method_config["n_ctx"] == 4
    assert len({s.trial_id for s in specs}) == len(specs)


@pytest.mark.parametrize("text, line, field, fragment", [
    (GOOD.replace("coop: {n_ctx", "cop: {n_ctx"), 6, "methods.cop", "did you mean 'coop'"),
    (GOOD.replace("[sklearn_digits]", "[sklearn_digit]"), 3, "datasets.0", "did you mean 'sklearn_digits'"),
    (GOOD.replace("[micro_clip_random]", "[micro_clip_randon]"), 2, "backbones.0", "did you mean"),
    (GOOD.replace("training: {epochs: 2}", "training: {epoch: 2}"), 8, "training.epoch", "did you mean 'epochs'"),
    (GOOD.replace("training: {epochs: 2}", "training: {epochs: two}"), 8, "training.epochs", "expected an integer"),
    (GOOD.replace("n_ctx: 4", "n_ctxx: 4"), 6, "methods.coop.n_ctxx", "did you mean 'n_ctx'"),
    (GOOD + "resourcez: {cpu: 1}\n", 9, "resourcez", "did you mean 'resources'"),
    (GOOD.replace("shots: [1, 4]", "shots: [1, -4]"), 7, "protocol.shots.1", "integer >= 1"),
])
def test_errors_name_file_line_field_and_suggestion(tmp_path, text, line, field, fragment):
    path = write(tmp_path, text)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), line, field)
    assert fragment in err.render()


def test_yaml_syntax_error_points_at_the_line(tmp_path):
    path = write(tmp_path, GOOD.replace("datasets: [sklearn_digits]", "datasets: [sklearn_digits"))
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert info.value.line is not None and "YAML" in info.value.render()


def test_cli_validate_exits_2_without_traceback(tmp_path):
    path = write(tmp_path, GOOD.replace("coop: {n_ctx", "cop: {n_ctx"))
    proc = subprocess.run([sys.executable, "-m", "lore_bench.cli", "validate", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{path}:6: methods.cop" in proc.stderr and "coop" in proc.stderr
    assert len(proc.stderr.splitlines()) <= 5  # one screen


def test_set_overrides_are_validated_like_the_file(tmp_path):
    path = write(tmp_path, GOOD)
    suite = load_suite(path, ["training.lr=0.01", "methods.coop.training.epochs=7", "protocol.seeds=[3]"])
    specs = expand(suite)
    coop = [s for s in specs if s.method == "coop"]
    assert {s.seed for s in coop} == {3}
    assert all(s.training["epochs"] == 7 and s.training["lr"] == 0.01 for s in coop)
    with pytest.raises(SuiteError) as info:
        load_suite(path, ["training.optimiser=adamw"])
    assert info.value.field == "training.optimiser" and "optimizer" in info.value.render()


def test_only_filters_the_trials(tmp_path):
    specs = expand(load_suite(write(tmp_path, GOOD)))
    kept = apply_only(specs, parse_only("method=coop,dataset=sklearn_digits,shots=4"))
    assert {(s.method, s.shots) for s in kept} == {("coop", 4)} and len(kept) == 2
    with pytest.raises(ValueError):
        parse_only("colour=red")


def test_plugin_method_from_the_suite(tmp_path, monkeypatch):
    from conftest import TESTS_DIR

    monkeypatch.syspath_prepend(f"{TESTS_DIR}/plugins")
    text = GOOD.replace("  zeroshot_clip: {}\n", '  mine: {plugin: "lb_example_plugin:TextInitHead", scale: 10.0}\n')
    specs = expand(load_suite(write(tmp_path, text)))
    mine = [s for s in specs if s.method == "mine"]
    assert mine and mine[0].plugin == "lb_example_plugin:TextInitHead" and mine[0].method_config == {"scale": 10.0}
    bad = GOOD.replace("  zeroshot_clip: {}\n", '  mine: {plugin: "no_such_pkg.mod:Cls"}\n')
    with pytest.raises(SuiteError) as info:
        load_suite(write(tmp_path, bad, "bad.yaml"))
    assert info.value.field == "methods.mine.plugin"


LORE_UNDER_GLOBAL_WARMUP = """\
name: t
backbones: [micro_clip_random]
datasets: [sklearn_digits]
methods:
  coop: {}
  lore: {training: {epochs: 2}}
protocol: {name: few_shot, shots: [1], seeds: [1]}
training: {epochs: 2, warmup_epochs: 1}
"""


def test_global_warmup_over_lores_schedule_is_a_load_error(tmp_path):
    """A global warm-up made every LORE trial fail at run time (lore_cosine has
    none): the suite is refused at load, naming the line, the field and the fix."""
    with pytest.raises(SuiteError) as info:
        load_suite(write(tmp_path, LORE_UNDER_GLOBAL_WARMUP))
    err = info.value
    assert err.field == "training.warmup_epochs" and err.line == 8
    assert "lore_cosine" in str(err) and "lore" in str(err)
    assert "warmup_epochs: 0 under methods.lore.training" in err.fix
    # the method's own block fixes it; coop keeps the global warm-up
    fixed = LORE_UNDER_GLOBAL_WARMUP.replace("{epochs: 2}}", "{epochs: 2, warmup_epochs: 0}}")
    specs = {s.method: s for s in expand(load_suite(write(tmp_path, fixed, "ok.yaml")))}
    assert specs["lore"].training["warmup_epochs"] == 0 and specs["coop"].training["warmup_epochs"] == 1
    # a warm-up in LORE's own block is pointed at there
    own = LORE_UNDER_GLOBAL_WARMUP.replace("training: {epochs: 2, warmup_epochs: 1}", "training: {epochs: 2}") \
        .replace("lore: {training: {epochs: 2}}", "lore: {training: {epochs: 2, warmup_epochs: 2}}")
    with pytest.raises(SuiteError) as info:
        load_suite(write(tmp_path, own, "own.yaml"))
    assert info.value.field == "methods.lore.training.warmup_epochs" and info.value.line == 6
