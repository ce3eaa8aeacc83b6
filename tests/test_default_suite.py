"""The embedded default suite, as a newcomer runs it (slow: about a minute per
dataset on 2 CPUs). Checks what the README promises: every method runs, and
CoOp at 16 shots beats micro-CLIP's zero-shot, and the included sections
(domain generalization, tuned) run with it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lore_bench.methods.registry import METHODS
from lore_bench.results.store import ResultsStore

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_default_suite_on_sklearn_digits(tmp_path):
    results = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "lore_bench.cli", "run", os.path.join(ROOT, "suite.yaml"),
                           "--only", "dataset=sklearn_digits", "--results", str(results), "--no-dashboard",
                           "--no-auth"], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = ResultsStore(results).trials()
    assert set(df["method"]) == set(METHODS.names()) and set(df["status"]) == {"ok"}
    zeroshot = df[(df["method"] == "zeroshot_clip") & (df["protocol"] == "zero_shot")]["top1"].iloc[0]
    coop16 = df[(df["method"] == "coop") & (df["shots"] == 16) & (df["protocol"] == "few_shot")]["top1"].mean()
    assert zeroshot > 30  # chance is 10 %
    assert coop16 > zeroshot
    assert "Table 1" in proc.stdout
    # the included sections ran too: domain generalization and the tuned protocol
    assert {"domain_generalization", "tuned"} <= set(df["protocol"])
