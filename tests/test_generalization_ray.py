"""The embedded generalization suites through Ray, as a user runs them:
rows per evaluation, the skipped closed-set methods named, the report's tables."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lore_bench.results.store import ResultsStore

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "lore_bench" / "suites"


def lore_bench(*args, cwd, timeout=900):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout, in the driver and the Ray workers
    proc = subprocess.run([sys.executable, "-m", "lore_bench.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_domain_generalization_embedded_through_ray(tmp_path):
    results = tmp_path / "results"
    lore_bench("run", SUITES / "domain_generalization_embedded.yaml", "--only", "method=zeroshot_clip,linear_probe",
               "--results", results, "--no-dashboard", "--no-auth", cwd=tmp_path)
    df = ResultsStore(results).trials()
    assert set(df["status"]) == {"ok"} and set(df["method"]) == {"zeroshot_clip", "linear_probe"}
    assert sorted(df["eval_split"]) == ["mnist/test", "mnist/test", "test", "test"]
    probe = df[df["method"] == "linear_probe"].set_index("eval_split")["top1"]
    assert probe["test"] > 50 and probe["mnist/test"] > 10  # in-domain far above chance; MNIST at least chance
    from lore_bench.plots.aggregate import load_trials, ok_rows
    from lore_bench.plots.tables import build_tables

    rows = load_trials(results)  # the report's own path, in this process (no second interpreter)
    [table] = [t for t in build_tables(rows, ok_rows(rows)) if t.name.startswith("domain_generalization")]
    assert table.header[1:3] == ["sklearn_digits (source)", "mnist"] and len(table.rows) == 2


@pytest.mark.slow
def test_base_to_novel_and_cross_dataset_embedded_through_ray(tmp_path):
    results = tmp_path / "results"
    b2n = lore_bench("run", SUITES / "base_to_novel_embedded.yaml", "--results", results, "--no-dashboard",
                     "--no-auth", cwd=tmp_path)
    assert "not applicable, skipped: lore (micro_clip), linear_probe (micro_clip), tip_adapter_f" in b2n.stderr
    lore_bench("run", SUITES / "cross_dataset_embedded.yaml", "--results", results, "--no-dashboard", "--no-auth",
               cwd=tmp_path)
    df = ResultsStore(results).trials()
    assert set(df["status"]) == {"ok"} and not set(df["method"]) & {"lore", "linear_probe", "tip_adapter_f"}
    halves = df[df["protocol"] == "base_to_novel"].groupby("method")["eval_split"].apply(sorted)
    assert len(halves) == 9 and all(v == ["base", "base", "novel", "novel"] for v in halves)
    xd = df[df["protocol"] == "cross_dataset"]
    assert set(xd["eval_split"]) == {"test", "mnist/test", "textures/test", "locality/test"}
    lore_bench("report", "--results", results, "--out", tmp_path / "reports", cwd=tmp_path)
    text = "\n".join(p.read_text() for p in (tmp_path / "reports").rglob("*.md"))
    assert "Base-to-novel generalization" in text and "Cross-dataset transfer" in text
