"""The report-table registry: a contract every registered table family keeps, and a third-party
table (tests/plugins/lb_report_table_plugin.py) reaching the written report through an entry point."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import TESTS_DIR

from lore_bench.plots.aggregate import load_trials, normalise, ok_rows
from lore_bench.plots.render.csv import table_csv
from lore_bench.plots.render.html import table_html
from lore_bench.plots.render.latex import table_latex
from lore_bench.plots.render.markdown import table_markdown
from lore_bench.plots.tables import KINDS, REPORT_TABLES, Cell, ReportTable, Table, build_tables, report_tables
from lore_bench.plugins import UnknownNameError
from lore_bench.results import ResultsStore
from lore_bench.results.schema import TRIALS_SCHEMA

ROOT = Path(TESTS_DIR).parent
BACKBONE = "clip_vit_b16_openai"  # has published figures: measured-vs-published gets rows
BUILTINS = ["few_shot", "easy_to_hard", "efficiency", "frozen_features", "base_to_novel", "cross_dataset",
            "domain_generalization", "measured_vs_published", "failed_trials"]


def _row(method, dataset, shots, seed, top1, protocol="few_shot", stage="main", status="ok", **extra):
    return {"trial_id": f"{method}-{dataset}-{shots}-{seed}-{protocol}", "suite": "s", "task": "classification",
            "method": method, "backbone": BACKBONE, "dataset": dataset, "protocol": protocol, "stage": stage,
            "eval_split": "test", "shots": shots, "seed": seed, "status": status,
            "error": None if status == "ok" else "Traceback ...\nRuntimeError: boom",
            "top1": top1 if status == "ok" else None, "trainable_params": 1000, "total_params": 101_000,
            "train_seconds": 2.0, "train_images_per_s": 50.0, "eval_images_per_s": 200.0, "peak_memory_mb": 300.0,
            **extra}


def write_store(root: Path) -> None:
    """Every kind of row a built-in family reads: zero-shot, few-shot, tuned, easy->hard, frozen, failed."""
    store = ResultsStore(root)
    for i, ds in enumerate(["cifar10", "dtd"]):
        store.write_trial([_row("zeroshot_clip", ds, 0, 1, 40.0 + i)])
        for j, method in enumerate(["coop", "lore"]):
            for seed in (1, 2):
                store.write_trial([_row(method, ds, 2, seed, 50.0 + i + j + seed / 10)])
                store.write_trial([_row(method, ds, 2, seed, 51.0 + i - j + seed / 10, "tuned", val_top1=60.0,
                                        tuned_config=json.dumps({"lr": 0.01}), search_configs=3, search_epochs=8,
                                        search_seconds=4.0, validation="hold-out 1 of the 2 training shots per class")])
        store.write_trial([_row("coop", ds, 2, 1, 51.0, "easy_to_hard", "easy"),
                           _row("coop", ds, 2, 1, 53.0, "easy_to_hard", "hard")])
    store.write_trial([_row("coop", "cifar10", 2, 1, 60.0, "base_to_novel", eval_split="base"),
                       _row("coop", "cifar10", 2, 1, 50.0, "base_to_novel", eval_split="novel")])
    for protocol, target in (("cross_dataset", "dtd"), ("domain_generalization", "imagenet_a")):
        store.write_trial([_row("coop", "imagenet", 2, 1, 70.0, protocol),
                           _row("coop", "imagenet", 2, 1, 45.0, protocol, eval_split=f"{target}/test")])
    store.write_trial([_row("lore", "dtd", 2, 3, None, status="failed")])
    store.write_trial([_row("lore", "roxford5k", 0, 1, None, "frozen_features", task="retrieval",
                            eval_split="roxford5k/walmer", metrics_json=json.dumps({"table4": {"mAP_medium": 0.41}}))])


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("store")
    write_store(root)
    return root


@pytest.fixture(scope="module")
def frames(store):
    rows = load_trials(store)
    return rows, ok_rows(rows)


@pytest.fixture(scope="module")
def empty_frames():
    rows = normalise(TRIALS_SCHEMA.empty_table().to_pandas())
    return rows, ok_rows(rows)


@pytest.fixture
def register(monkeypatch):
    """Register a table family for one test only (taken out of the registry afterwards)."""
    REPORT_TABLES.names()  # built-ins first, as a real run would load them

    def add(cls):
        monkeypatch.setitem(REPORT_TABLES._items, cls.name, cls)
        return cls

    return add


def _check_renders(table: Table) -> None:
    assert isinstance(table, Table) and table.title
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", table.name), table.name  # a file stem
    assert all(len(row) == len(table.header) for row in table.rows), table.name
    assert isinstance(table.data, pd.DataFrame)
    for render in (table_markdown, table_latex, table_csv, table_html):
        assert isinstance(render(table), str)


def test_builtin_families_are_registered_in_report_order():
    assert [cls.name for cls in report_tables() if cls.name in BUILTINS] == BUILTINS


@pytest.mark.parametrize("name", REPORT_TABLES.names())
def test_every_registered_table_keeps_the_contract(name, frames, empty_frames):
    cls = REPORT_TABLES.get(name)
    assert issubclass(cls, ReportTable) and cls.name == name and cls.title and cls.kind in KINDS
    tables = cls().build(*frames)
    if cls.__module__.startswith("lore_bench."):  # built-ins: the synthetic store has rows for each
        assert tables and any(t.rows for t in tables), name
    for table in tables:
        _check_renders(table)
    for table in cls().build(*empty_frames):  # an empty store gives no table or an empty one, never an error
        _check_renders(table)


def test_table_names_and_titles_are_unique(frames):
    families = report_tables()
    assert len({cls.name for cls in families}) == len(families)
    assert len({cls.title for cls in families}) == len(families)
    names = [t.name for t in build_tables(*frames)]  # file stems: one must never overwrite another
    assert len(names) == len(set(names)) and "failed_trials" in names


def test_two_families_building_one_table_name_is_an_error(frames, register):
    @register
    class Clash(ReportTable):
        name, title = "clash", "A table that reuses a built-in file name"

        def build(self, rows, ok):
            return [Table("failed_trials", "clash", ["a"], [], pd.DataFrame())]

    with pytest.raises(ValueError, match="'failed_trials' and 'clash' both build a table named 'failed_trials'"):
        build_tables(*frames)


def test_a_broken_registration_is_named_in_the_error(register):
    class NoKind(ReportTable):
        name, title, kind = "no_kind", "Bad styling role", "fancy"

    register(NoKind)
    with pytest.raises(TypeError, match="report table 'no_kind'.*kind 'fancy'; choose one of paper, plain, problems"):
        report_tables()


def test_not_a_report_table_is_rejected(monkeypatch):
    REPORT_TABLES.names()
    monkeypatch.setitem(REPORT_TABLES._items, "a_function", lambda rows, ok: [])
    with pytest.raises(TypeError, match="'a_function'.*must be a subclass of .*ReportTable"):
        report_tables()


def test_a_taken_name_and_a_typo():
    class Other(ReportTable):
        name, title = "efficiency", "Another efficiency table"

    with pytest.raises(ValueError, match="registered twice"):
        REPORT_TABLES.add("efficiency", Other)
    assert REPORT_TABLES.get("efficiency").__name__ == "EfficiencyTables"
    with pytest.raises(UnknownNameError, match="Did you mean 'efficiency'"):
        REPORT_TABLES.get("efficency")


def test_styling_follows_the_declared_kind_not_the_name():
    def table(name, kind):
        return Table(name, "t", ["Status", "Value", "Error"], [[Cell("failed"), Cell("1.00", 1.0, "best"), Cell("x")]],
                     pd.DataFrame(), kind=kind)

    assert "**1.00**" not in table_markdown(table("table1_looks_like_a_paper_table", "plain"))
    assert "**1.00**" in table_markdown(table("my_table", "paper"))
    assert "\\textbf{1.00}" in table_latex(table("my_table", "paper"))
    assert "**" not in table_markdown(table("my_table", "paper"), marks=False)
    assert 'class="status-failed' not in table_html(table("failed_trials", "plain"))
    html = table_html(table("my_failures", "problems"))
    assert 'class="text status-failed"' in html and 'class="text error"' in html


def test_entry_point_table_appears_in_the_written_report(store, tmp_path):
    # An installed third-party distribution, as pip would leave it: a dist-info with entry_points.txt.
    dist = tmp_path / "lb_report_table_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lb-report-table-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[lore_bench.report_tables]\ntrials_per_method = lb_report_table_plugin:TrialsPerMethod\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), f"{TESTS_DIR}/plugins", str(ROOT)])}
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "lore_bench.cli", "report", "--results", str(store),
                           "--out", str(out), "--format", "md,html"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (out / "report.md").read_text()
    # order 50: after the efficiency table, before measured vs published
    assert md.index("## Efficiency") < md.index("## Trials per method and status") < md.index("## Measured vs")
    assert "| lore | 9 | 1 | 0 |" in md  # 2 datasets x 2 seeds, recipe and tuned, + the frozen trial ok, 1 failed
    html = (out / "report.html").read_text()
    assert '<section id="trials_per_method"><h2>Trials per method and status</h2>' in html
    assert '<a href="#trials_per_method">' in html
    assert (out / "tables" / "trials_per_method.md").exists()
