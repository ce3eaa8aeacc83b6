"""`include:` — one suite file runs other suites' grids too (each with its own
protocol, budgets and name), so the default suite can show several protocols."""
from __future__ import annotations

import pytest

from lore_bench.cli import main
from lore_bench.suite.config import SuiteError, load_suite_tree

BASE = ("name: {name}\nbackbones: [micro_clip_random]\ndatasets: [sklearn_digits]\n"
        "methods: {{{methods}}}\nprotocol: {{name: few_shot, shots: [1], seeds: [1]}}\n")


def test_an_included_suite_adds_its_own_trials_under_its_own_name(tmp_path, capsys):
    (tmp_path / "more.yaml").write_text(BASE.format(name="more", methods="coop: {}") + "include: [top.yaml]\n")
    top = tmp_path / "top.yaml"
    top.write_text(BASE.format(name="top", methods="zeroshot_clip: {}") + "include: [more.yaml]\n")
    suites = load_suite_tree(top)
    assert [s.name for s in suites] == ["top", "more"]  # the cycle back to top.yaml is followed once
    assert main(["run", str(top), "--dry-run", "--results", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "2 trials (2 to run" in out and "coop" in out and "zeroshot_clip" in out
    assert main(["validate", str(top)]) == 0 and "including more" in capsys.readouterr().out


def test_a_missing_include_and_a_mistake_inside_one_name_their_file(tmp_path):
    top = tmp_path / "top.yaml"
    top.write_text(BASE.format(name="top", methods="coop: {}") + "include: [nope]\n")
    with pytest.raises(SuiteError, match=r"top.yaml:\d+: include.0: no suite file 'nope'"):
        load_suite_tree(top)
    (tmp_path / "bad.yaml").write_text(BASE.format(name="bad", methods="cop: {}"))
    top.write_text(BASE.format(name="top", methods="coop: {}") + "include: [bad.yaml]\n")
    with pytest.raises(SuiteError, match=r"bad.yaml:\d+: methods.cop: .*did you mean 'coop'"):
        load_suite_tree(top)
