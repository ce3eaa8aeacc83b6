"""Through real local Ray: a trial that meets a broken image fails, and the
run's terminal summary names the file and what is wrong with it (not the last
line of a worker's traceback). Slow: starts Ray."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.paper_datasets import MAKERS

ROOT = Path(__file__).resolve().parent.parent

SUITE = """\
name: data-errors
backbones: [micro_clip_random]
datasets: [flowers102]
data_root: {root}
methods:
  coop: {{n_ctx: 2}}
protocol: {{name: few_shot, shots: [1], seeds: [1]}}
training: {{epochs: 1, augment: false}}
resources: {{cpu: 1, retries: 0}}
ray: {{dashboard: false, auth: false, num_cpus: 1}}
"""


@pytest.mark.slow
def test_a_truncated_image_is_named_in_the_run_summary(tmp_path):
    data = tmp_path / "data"
    MAKERS["flowers102"](data)
    broken = data / "oxford_flowers" / "jpg" / "image_00005.jpg"  # a test image of the first class
    broken.write_bytes(broken.read_bytes()[:60])
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(root=data))
    # this checkout's lore_bench in the driver and (inherited) in the Ray workers
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "lore_bench.cli", "run", str(suite), "--results",
                           str(tmp_path / "results")], capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env=env, start_new_session=True)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    failed = [line for line in proc.stderr.splitlines() if line.startswith("  failed: ")]
    assert failed and f"cannot decode {broken}: truncated" in failed[0], proc.stderr[-3000:]
    assert "FAILED (cannot decode" in proc.stdout
