"""Through real local Ray: results land once in Parquet, plugins reach the
workers, and a SIGKILLed driver loses nothing and duplicates nothing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import TESTS_DIR
from lore_bench.results.store import ResultsStore

SUITE = """\
name: orchestrate-test
backbones: [micro_clip_random]
datasets: [sklearn_digits]
methods:
  zeroshot_clip: {}
  coop: {n_ctx: 4}
  mine: {plugin: "lb_example_plugin:TextInitHead"}
protocol: {name: few_shot, shots: [1, 2], seeds: [1]}
training: {epochs: 2, augment: false}
resources: {cpu: 1, retries: 0}
ray: {dashboard: false, auth: false, num_cpus: 2}
"""


def cli(args, **kw):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([f"{TESTS_DIR}/plugins", os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "lore_bench.cli", *args], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_to_end(args, timeout):
    """Run the CLI to completion; whatever it started is ended afterwards."""
    proc = cli(args)
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        kill_group(proc)
    return proc.returncode, out


def test_suite_runs_through_ray_into_parquet_and_rerun_skips(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    results = tmp_path / "results"
    code, out = run_to_end(["run", str(suite), "--results", str(results)], 400)
    assert code == 0, out
    df = ResultsStore(results).trials(all_versions=True)
    # zero-shot once + coop and the plugin at 2 shot counts
    assert len(df) == 5 and df["trial_id"].is_unique and set(df["status"]) == {"ok"}
    assert set(df["method"]) == {"zeroshot_clip", "coop", "mine"}
    assert "done 5" in out and "Table 1" in out
    assert not list((results / "claims").glob("*.claim"))  # every lease released at the end
    code, out = run_to_end(["run", str(suite), "--results", str(results)], 200)
    assert code == 0 and "5 of 5 trials already stored" in out
    assert len(ResultsStore(results).trials(all_versions=True)) == 5


@pytest.mark.slow  # a minute or more of real Ray; CI runs it (-m slow)
def test_sigkill_of_the_driver_loses_and_duplicates_nothing(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("shots: [1, 2], seeds: [1]", "shots: [1, 2, 4], seeds: [1, 2]")
                     .replace("epochs: 2", "epochs: 3"))
    results = tmp_path / "results"
    proc = cli(["run", str(suite), "--results", str(results)])
    trials_dir = results / "trials"
    try:
        deadline = time.time() + 300
        while time.time() < deadline and len(list(trials_dir.glob("*.parquet"))) < 2:
            time.sleep(0.2)
        assert len(list(trials_dir.glob("*.parquet"))) >= 2, "no trial finished before the deadline"
        os.kill(proc.pid, signal.SIGKILL)  # the driver only, mid-run
        proc.wait(timeout=30)
    finally:
        kill_group(proc)  # Ray's own processes started by that driver
    stored_before = set(ResultsStore(results).trials()["trial_id"])
    code, out = run_to_end(["run", str(suite), "--results", str(results)], 500)
    assert code == 0, out
    df = ResultsStore(results).trials(all_versions=True)
    assert len(df) == 13 and df["trial_id"].is_unique, df[["trial_id", "method"]]
    assert stored_before <= set(df["trial_id"]) and set(df["status"]) == {"ok"}
    assert f"{len(stored_before)} of 13 trials already stored" in out
    assert "another driver" not in out  # the killed driver's leases were taken over, not waited for
