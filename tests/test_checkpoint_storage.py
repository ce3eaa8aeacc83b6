"""Checkpoints on a filesystem URI (pyarrow filesystems): a trial interrupted
mid-run resumes from the checkpoint another process (another node) wrote there.
Fast: a ``file://`` URI. Slow: a real S3 endpoint (moto's server on loopback),
through real Ray, with a trial that fails once and resumes from S3."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from conftest import interrupt_after_epoch, make_spec
from lore_bench import run_trial
from lore_bench.suite.engine.checkpoint import checkpoint_root


def test_a_trial_resumes_from_a_checkpoint_under_a_uri_exactly(tmp_path):
    spec = make_spec(training={"epochs": 3, "augment": True, "batch_size": 8, "checkpoint_every_s": 0})
    full = run_trial(spec)
    uri = f"file://{tmp_path}/ckpt"
    interrupt_after_epoch(spec, uri)
    root = checkpoint_root(uri)
    assert root.exists(spec.trial_id) and str(root) == uri
    assert (tmp_path / "ckpt" / spec.trial_id / "stage-main.pt").is_file()
    assert not list((tmp_path / "ckpt").rglob("*.tmp"))  # written whole, then moved into place
    resumed = run_trial(spec, checkpoint_dir=uri)
    assert [e["epoch"] for e in resumed.epochs] == [1, 2, 3]  # what was missed, not from scratch
    assert resumed.rows[0]["top1"] == pytest.approx(full.rows[0]["top1"])
    assert root.discard(spec.trial_id) and not root.exists(spec.trial_id) and not root.discard(spec.trial_id)


def test_a_checkpoint_location_nobody_can_open_says_so():
    with pytest.raises(OSError, match="cannot open 'nosuchfs://x/y' as a filesystem"):
        checkpoint_root("nosuchfs://x/y")


@pytest.fixture
def s3_endpoint(monkeypatch):
    """A real S3 API on loopback (moto's server), a bucket, and the AWS variables a worker reads."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}").create_bucket(Bucket="lore-ckpt")
    yield f"127.0.0.1:{port}"
    server.stop()


def _s3_keys(endpoint: str) -> list[str]:
    import boto3

    listed = boto3.client("s3", endpoint_url=f"http://{endpoint}").list_objects_v2(Bucket="lore-ckpt")
    return [o["Key"] for o in listed.get("Contents", [])]


@pytest.mark.slow
def test_a_retried_trial_resumes_from_s3_through_ray(tmp_path, s3_endpoint):
    from test_faults_ray import epochs_by_attempt, suite_text
    from test_orchestrate import run_to_end

    from lore_bench.results.store import ResultsStore

    uri = f"s3://lore-ckpt/run?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    markers = tmp_path / "markers"
    suite = tmp_path / "suite.yaml"
    suite.write_text(suite_text(markers, {"flaky": "raise_once", "plain": "none"}, ray=f', checkpoint_dir: "{uri}"'))
    code, out = run_to_end(["run", str(suite), "--results", str(tmp_path / "results")], 400)
    assert code == 0, out
    df = ResultsStore(tmp_path / "results").trials(all_versions=True)
    assert sorted(df["status"]) == ["ok", "ok"] and df["trial_id"].is_unique
    assert epochs_by_attempt(markers, "flaky") == [[1, 2], [2, 3]]  # the retry read epoch 1 back from S3
    assert not (tmp_path / "results" / "checkpoints").exists()  # nothing went to the local disk
    # and S3 is cleaned once the rows are stored (pyarrow leaves the empty "run/" folder marker)
    assert [key for key in _s3_keys(s3_endpoint) if not key.endswith("/")] == []


def test_a_results_uri_is_refused_with_the_reason_and_where_uris_do_work(tmp_path, capsys):
    from lore_bench.cli import main

    suite = tmp_path / "s.yaml"
    suite.write_text("name: t\nbackbones: [micro_clip_random]\ndatasets: [sklearn_digits]\n"
                     "methods: {zeroshot_clip: {}}\nprotocol: {name: few_shot, shots: [1], seeds: [1]}\n")
    assert main(["run", str(suite), "--results", "s3://bucket/results"]) == 2
    err = capsys.readouterr().err
    assert "is a URI" in err and "--checkpoints s3://" in err and not Path("s3:").exists()
