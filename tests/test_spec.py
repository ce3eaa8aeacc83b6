"""trial_id: stable across processes and hash seeds, sensitive to what changes results."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

from conftest import make_spec

CODE = ("import sys; sys.path.insert(0, 'tests'); from conftest import make_spec; "
        "print(make_spec().trial_id)")


def test_trial_id_identical_across_processes_and_hash_seeds():
    here = make_spec().trial_id
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", CODE], cwd=root, env=env, capture_output=True, text=True,
                             timeout=120)
        assert out.stdout.strip().splitlines()[-1] == here, out.stderr


def test_trial_id_changes_with_results_not_with_location():
    spec = make_spec()
    assert replace(spec, seed=2).trial_id != spec.trial_id
    assert replace(spec, training={**spec.training, "lr": 0.1}).trial_id != spec.trial_id
    assert replace(spec, suite="other", data_root="/elsewhere").trial_id == spec.trial_id


def test_spec_json_round_trip():
    from lore_bench.suite.spec import TrialSpec

    spec = make_spec()
    again = TrialSpec.from_json(spec.to_json())
    assert again == spec and again.trial_id == spec.trial_id
