"""Frozen-feature tasks as suite trials: through Ray into the store, on fixtures
in each dataset's real layout, baseline and with a LORE White Box."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fixtures.frozen_data import make_all
from lore_bench.results.store import ResultsStore
from lore_bench.suite.config import load_suite
from lore_bench.suite.expand import expand
from lore_bench.suite.spec import TrialSpec

SUITE = """\
name: frozen-test
backbones: [micro_clip_random]
datasets: [roxford5k, rparis6k, spair71k, davis2017]
data_root: {root}
methods:
  zeroshot_clip: {{}}
  lore: {{training: {{epochs: 1, batch_size: 8, augment: false}}}}
protocol:
  name: frozen_features
  white_box: {{dataset: sklearn_digits, shots: 1, seed: 1}}
  options: {{short_side: 64, multiple: 16}}   # DAVIS fixture frames at 64 px, not DINO's 480
resources: {{cpu: 1, retries: 0}}
ray: {{dashboard: false, auth: false, num_cpus: 2}}
"""


def test_frozen_suite_expands_with_the_white_box_trial(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SUITE.format(root=tmp_path))
    specs = expand(load_suite(path))
    frozen = [s for s in specs if s.protocol == "frozen_features"]
    assert len(frozen) == 8 and {s.task for s in frozen} == {"retrieval", "correspondence", "video_segmentation"}
    # the White Box is an ordinary classification trial of the same suite, trained once
    (source,) = [s for s in specs if s.protocol != "frozen_features"]
    assert (source.method, source.dataset, source.protocol, source.task) == ("lore", "sklearn_digits", "few_shot",
                                                                              "classification")
    lore = [s for s in frozen if s.method == "lore"]
    assert all(s.protocol_config["white_box_spec"]["dataset"] == "sklearn_digits" for s in lore)
    assert all(TrialSpec.from_json(s.protocol_config["white_box_spec"]).trial_id == source.trial_id for s in lore)
    assert all("white_box_spec" not in s.protocol_config for s in specs if s.method == "zeroshot_clip")


@pytest.mark.slow  # a minute or more of real Ray; CI runs it (-m slow)
def test_frozen_suite_runs_through_ray_into_the_store(tmp_path):
    root = tmp_path / "data"
    make_all(root)
    path = tmp_path / "s.yaml"
    path.write_text(SUITE.format(root=root))
    results = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "lore_bench.cli", "run", str(path), "--results", str(results)],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = ResultsStore(results).trials()
    assert set(df["status"]) == {"ok"} and set(df["method"]) == {"zeroshot_clip", "lore"}
    white_box = df[df["protocol"] == "few_shot"]
    assert len(white_box) == 1 and white_box["dataset"].item() == "sklearn_digits"  # stored with its own row
    # its checkpoint was what the frozen trials read; they are all stored, so nothing is left
    assert list((results / "checkpoints").iterdir()) == []
    df = df[df["protocol"] == "frozen_features"]
    metrics = [json.loads(m) for m in df["metrics_json"]]
    assert all("table4" in m for m in metrics)
    lore_rows = df[df["method"] == "lore"]
    assert (lore_rows["trainable_params"] > 0).all()  # the White Box was loaded
