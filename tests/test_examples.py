"""The plugins of docs/plugins.md (``examples/``), as a user would run them: one
suite declaring every example (three methods, a backbone family, a dataset
through an installed entry point), run by the CLI through real local Ray.
Slow: the BitFit-style example on micro-CLIP beats zero-shot on sklearn_digits
at 16 shots and leaves the next trial in the same process bit-identical."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TESTS_DIR, make_spec
from lore_bench.results.store import ResultsStore

EXAMPLES = Path(TESTS_DIR).parent / "examples"

SUITE = """\
name: examples
backbones: [{plugin: "clip_family_backbone:build", arch: tiny, name: tiny_clip}]
datasets: [shapes]
methods:
  zeroshot_clip: {}
  feature_adapter: {plugin: "feature_adapter:FeatureAdapter"}
  image_prompts: {plugin: "image_prompts:ImagePrompts", num_tokens: 4}
  tower_biases: {plugin: "tower_biases:TowerBiases"}
protocol: {name: few_shot, shots: [4], seeds: [1]}
training: {epochs: 2, augment: false, batch_size: 8, warmup_epochs: 0}
resources: {cpu: 1, retries: 0}
ray: {dashboard: false, auth: false, num_cpus: 2}
"""


def install_dataset_entry_point(site: Path) -> None:
    """What `pip install` of a package declaring the example dataset leaves behind."""
    dist = site / "lb_examples-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lb-examples\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[lore_bench.datasets]\nshapes = shapes_dataset:Shapes\n")


def test_every_example_runs_through_ray_as_a_suite_plugin(tmp_path):
    site = tmp_path / "site"
    install_dataset_entry_point(site)
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLES), str(site), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "lore_bench.cli", "run", str(suite), "--results", str(results)],
                            env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=400)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # Ray processes this driver started
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, out[-4000:]
    df = ResultsStore(results).trials().set_index("method")
    assert set(df.index) == {"zeroshot_clip", "feature_adapter", "image_prompts", "tower_biases"}
    assert set(df["status"]) == {"ok"} and set(df["backbone"]) == {"tiny_clip"} and set(df["dataset"]) == {"shapes"}
    assert df.loc["image_prompts", "trainable_params"] == 4 * 64  # 4 tokens of the tiny tower's width
    assert df.loc["feature_adapter", "trainable_params"] == (64 * 16 + 16) + (16 * 64 + 64)
    assert df.loc["tower_biases", "trainable_params"] > 0
    # trained inside the tower: counted once in the total, which stays the tower's size
    assert df.loc["tower_biases", "total_params"] == df.loc["zeroshot_clip", "total_params"]
    assert df.loc["feature_adapter", "num_train"] == 4 * 3


@pytest.mark.slow  # micro-CLIP at 16 shots, zero-shot in a fresh process as the reference: ~2 min
def test_tower_biases_example_beats_zero_shot_and_leaks_nothing(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from isolation_probe import probe, tower_digest
    from lore_bench import run_trial
    from lore_bench.backbones import build_backbone
    from test_isolation import fresh_process, zero_shot_spec
    from tower_biases import image_tower_biases

    shared = build_backbone("micro_clip")
    before = tower_digest(shared)
    spec = make_spec(method="tower_biases", plugin="tower_biases:TowerBiases", backbone="micro_clip", shots=16,
                     training={"epochs": 10, "augment": False, "batch_size": 32, "warmup_epochs": 0,
                               "lr": 0.05})
    row = run_trial(spec).rows[0]
    zero_shot = make_spec(method="zeroshot_clip", shots=0, backbone="micro_clip", protocol="zero_shot")
    zs_row = run_trial(zero_shot).rows[0]
    print(f"sklearn_digits 16 shots: tower_biases {row['top1']:.2f} vs zero-shot {zs_row['top1']:.2f}")
    assert row["status"] == "ok" and row["trainable_params"] == sum(p.numel() for _, p in image_tower_biases(shared)) > 0
    assert row["top1"] > zs_row["top1"] + 5  # published-style margin, not noise: ~500 test images
    assert build_backbone("micro_clip") is shared and tower_digest(shared) == before
    assert probe(zero_shot_spec()) == fresh_process([zero_shot_spec()], tmp_path / "fresh-cache")[0]
