"""Faults through real Ray, each one injected into a running suite: an exception
at epoch 2, a NaN loss, a trial that fails once then succeeds, a worker that
kills itself (what an out-of-memory killer does) once or every time, a worker
SIGKILLed from outside mid-trial, Ctrl-C, a full disk; slow: Ray's own
out-of-memory monitor and a 2-node cluster that loses a node. Each checks that
nothing is lost, nothing duplicated and the queue finishes."""
from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from lore_bench.results.store import ResultsStore
from conftest import TESTS_DIR
from test_orchestrate import kill_group, run_to_end

FAULTY = '{{plugin: "lb_fault_plugin:FaultyHead", fault: {fault}, at_epoch: 2, marker_dir: "{markers}/{name}"{extra}}}'


def cli(args, env=None):
    """The CLI in its own session (so everything it starts can be ended), test plugins importable."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([f"{TESTS_DIR}/plugins", env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-m", "lore_bench.cli", *args], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def suite_text(markers: Path, faults: dict[str, str], name="faults-test", epochs=3, retries=1, ray="", extra=None):
    methods = "\n".join(f"  {n}: " + FAULTY.format(fault=f, markers=markers, name=n, extra=(extra or {}).get(n, ""))
                        for n, f in faults.items())
    return f"""\
name: {name}
backbones: [micro_clip_random]
datasets: [sklearn_digits]
methods:
{methods}
protocol: {{name: few_shot, shots: [1], seeds: [1]}}
training: {{epochs: {epochs}, augment: false, checkpoint_every_s: 0}}
resources: {{cpu: 1, retries: {retries}}}
ray: {{dashboard: false, auth: false, num_cpus: 2{ray}}}
"""


def epochs_by_attempt(markers: Path, name: str) -> list[list[int]]:
    """The epochs each attempt (worker pid) started, in order."""
    path = markers / name / "sklearn_digits-1.epochs"
    attempts: dict[str, list[int]] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        pid, _, epoch = line.split()
        attempts.setdefault(pid, []).append(int(epoch))
    return list(attempts.values())


def wait_for(predicate, timeout: float, proc=None) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def stored(results: Path):
    df = ResultsStore(results).trials(all_versions=True)
    return df, dict(zip(df["method"], df["status"]))


@pytest.mark.slow  # a minute or more of real Ray; CI runs it (-m slow)
def test_faults_stay_inside_their_trial_and_a_rerun_does_only_what_is_missing(tmp_path):
    markers = tmp_path / "markers"
    faults = {"plain": "none", "raises": "raise", "nan": "nan", "flaky": "raise_once", "oom_killed": "kill_once",
              "always_killed": "kill", "victim": "slow"}
    suite = tmp_path / "suite.yaml"
    suite.write_text(suite_text(markers, faults, extra={"victim": ", sleep: 1.5"}))
    results = tmp_path / "results"
    proc = cli(["run", str(suite), "--results", str(results)])
    try:
        # A worker SIGKILLed from outside while its trial runs (the kernel's OOM killer, a node's admin).
        assert wait_for(lambda: epochs_by_attempt(markers, "victim"), 400, proc), "the victim trial never started"
        pid = int((markers / "victim" / "sklearn_digits-1.epochs").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=500)
    finally:
        kill_group(proc)
    assert proc.returncode == 1, out  # some trials failed or diverged
    df, status = stored(results)
    assert len(df) == len(faults) and df["trial_id"].is_unique, df[["method", "status"]]  # once each, none lost
    assert status == {"plain": "ok", "flaky": "ok", "oom_killed": "ok", "victim": "ok",
                      "raises": "failed", "always_killed": "failed", "nan": "diverged"}
    errors = {m: e.strip().splitlines()[-1] for m, e in zip(df["method"], df["error"]) if isinstance(e, str)}
    assert errors["raises"] == "RuntimeError: injected failure at epoch 2 [2 attempts]"
    assert errors["always_killed"].startswith("its worker process died") and "[2 attempts]" in errors["always_killed"]
    assert errors["nan"] == "non-finite loss at epoch 2"
    # the summary says what failed and why, one line each, without Tune's tracebacks
    assert "raises/sklearn_digits/micro_clip_random/few_shot/k1/s1: RuntimeError: injected failure at epoch 2" in out
    assert "always_killed/" in out and "Traceback" not in out
    assert "finished in" in out and "4 ok, 1 diverged, 2 failed" in out
    # retried trials resumed from their epoch-1 checkpoint instead of starting over
    assert epochs_by_attempt(markers, "flaky") == [[1, 2], [2, 3]]
    assert epochs_by_attempt(markers, "oom_killed") == [[1, 2], [2, 3]]
    assert len(epochs_by_attempt(markers, "victim")) == 2
    # checkpoints: gone once stored ok or diverged, kept for a failed trial (--retry-failed resumes it)
    left = {p.name for p in (results / "checkpoints").iterdir()} if (results / "checkpoints").exists() else set()
    ids = dict(zip(df["method"], df["trial_id"]))
    assert left == {ids["raises"], ids["always_killed"]}

    code, out = run_to_end(["run", str(suite), "--results", str(results)], 200)
    assert code == 1, out  # still not all ok, and nothing rerun without being asked
    assert ("7 of 7 trials already stored: 4 ok, 2 stored as failed (rerun with --retry-failed), "
            "1 stored as diverged (rerun with --retry-diverged)") in out
    assert "running" not in out and len(ResultsStore(results).trials(all_versions=True)) == len(faults)
    code, out = run_to_end(["run", str(suite), "--results", str(results), "--dry-run", "--retry-diverged"], 200)
    assert code == 0 and "(1 to run, 6 already stored" in out


def _listening(pids: set[int]) -> list[str]:
    """Local addresses of the TCP sockets these processes listen on (from /proc)."""
    inodes = {}
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes[link[8:-1]] = pid
        except OSError:
            continue
    out = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] != "0A" or parts[9] not in inodes:  # 0A: LISTEN
                continue
            host, port = parts[1].split(":")
            out.append(f"{_ip(host, v6)}:{int(port, 16)}")
    return out


def _ip(hex_host: str, v6: bool) -> str:
    import ipaddress

    raw = bytes.fromhex(hex_host)
    if not v6:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    addr = ipaddress.IPv6Address(words)
    return str(addr.ipv4_mapped or addr)


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        out.add(pid)
        todo += children.get(pid, [])
    return out


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listening sockets from /proc")
def test_a_local_run_listens_on_loopback_only_keeps_its_token_private_and_stops_on_ctrl_c(tmp_path):
    markers = tmp_path / "markers"
    suite = tmp_path / "suite.yaml"
    # dashboard and token auth on: the defaults a user gets
    suite.write_text(suite_text(markers, {"slow": "slow"}, epochs=40, extra={"slow": ", sleep: 1"})
                     .replace("dashboard: false, auth: false", "dashboard: true, auth: true"))
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    checkpoints = tmp_path / "elsewhere"
    proc = cli(["run", str(suite), "--results", str(tmp_path / "results"), "--checkpoints", str(checkpoints)],
               env={**env, "HOME": str(home)})
    try:
        assert wait_for(lambda: epochs_by_attempt(markers, "slow"), 400, proc), "the trial never started"
        assert wait_for(lambda: list(checkpoints.glob("*/stage-main.pt")), 60, proc), "no checkpoint in --checkpoints"
        time.sleep(1)  # the agents Ray starts after the first worker
        addresses = _listening(_descendants(proc.pid))
        public = [a for a in addresses if not (a.startswith("127.") or a.startswith("::1"))]
        assert addresses and not public, addresses
        token = home / ".ray" / "auth_token"
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
        t0 = time.time()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert time.time() - t0 < 45
    finally:
        kill_group(proc)
    assert proc.returncode == 130 and "interrupted" in out, out
    assert ResultsStore(tmp_path / "results").trials().empty  # nothing half-written


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.mark.slow  # a minute or more of real Ray; CI runs it (-m slow)
def test_a_full_disk_ends_the_run_cleanly_and_a_rerun_finishes_it(tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "160k"):
        pytest.skip("needs root to mount a small tmpfs (tests/test_faults.py covers ENOSPC without it)")
    try:
        suite = tmp_path / "suite.yaml"
        suite.write_text(suite_text(tmp_path / "markers", {"plain": "none"})
                         .replace("shots: [1], seeds: [1]", "shots: [1, 2], seeds: [1, 2]"))
        results = disk / "results"
        code, out = run_to_end(["run", str(suite), "--results", str(results)], 500)
        assert code == 1, out
        assert "error: the run stopped: no space left on device" in out and "Traceback" not in out, out
        partial = [str(p) for p in results.rglob("*") if p.is_file() and p.name.endswith(".tmp")]
        assert partial == [], partial
        before = ResultsStore(results).trials(all_versions=True)
        assert len(before) < 4 and before["trial_id"].is_unique
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        code, out = run_to_end(["run", str(suite), "--results", str(results)], 500)
        assert code == 0, out
        df = ResultsStore(results).trials(all_versions=True)
        assert len(df) == 4 and df["trial_id"].is_unique and set(df["status"]) == {"ok"}
        assert set(before["trial_id"]) <= set(df["trial_id"])
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _memory_used_fraction() -> float:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    total, available = (int(info[k].split()[0]) for k in ("MemTotal", "MemAvailable"))
    return 1 - available / total


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="reads /proc/meminfo")
def test_a_trial_killed_by_rays_memory_monitor_is_recorded_and_the_run_survives(tmp_path):
    """Ray's monitor kills a worker when the node is over its threshold; the
    threshold is set below what the node already uses, so nothing is allocated.
    Before the fix the OutOfMemoryError escaped tuner.fit(): no summary, nothing stored."""
    markers = tmp_path / "markers"
    suite = tmp_path / "suite.yaml"
    suite.write_text(suite_text(markers, {"victim": "slow"}, epochs=30, retries=0, extra={"victim": ", sleep: 1"}))
    threshold = round(_memory_used_fraction() / 2, 4)
    env = {**os.environ, "RAY_memory_usage_threshold": str(threshold), "RAY_memory_monitor_refresh_ms": "20000"}
    proc = cli(["run", str(suite), "--results", str(tmp_path / "results")], env=env)
    try:
        out, _ = proc.communicate(timeout=400)
    finally:
        kill_group(proc)
    assert proc.returncode == 1 and "Caught unexpected exception" not in out, out
    df, status = stored(tmp_path / "results")
    assert status == {"victim": "failed"} and len(df) == 1
    assert "killed by Ray's out-of-memory monitor" in df["error"].item().splitlines()[-1]
    assert "failed: victim/" in out and "finished in" in out


# -- a 2-node cluster on this host, token auth on, that loses its worker node ----------
RAY = str(Path(sys.executable).with_name("ray"))


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _pids_marked(marker: str) -> set[int]:
    """Processes whose environment carries this node's marker (Ray renames its
    workers' command lines, but they inherit the raylet's environment)."""
    found = set()
    needle = f"LB_TEST_NODE={marker}".encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    found.add(int(entry))
            except OSError:
                continue
    return found


def _kill_node(marker: str) -> None:
    for _ in range(3):  # workers started while we kill
        for pid in _pids_marked(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.3)


def _start_node(temp_dir: str, name: str, env: dict, head_port: int | None) -> str:
    marker = f"{name}-{os.getpid()}-{time.time_ns()}"
    gcs, nm, om, agent_http, agent_grpc, metrics, runtime_env, client = _free_ports(8)
    args = [RAY, "start", "--num-cpus=1", f"--temp-dir={temp_dir}/{name}",
            f"--node-manager-port={nm}", f"--object-manager-port={om}", f"--dashboard-agent-listen-port={agent_http}",
            f"--dashboard-agent-grpc-port={agent_grpc}", f"--metrics-export-port={metrics}",
            f"--runtime-env-agent-port={runtime_env}", "--min-worker-port=0", "--max-worker-port=0",
            "--disable-usage-stats"]
    if head_port is None:
        args += ["--head", f"--port={gcs}", "--include-dashboard=false", f"--ray-client-server-port={client}"]
    else:
        args += [f"--address=127.0.0.1:{head_port}"]
    proc = subprocess.run(args, env={**env, "LB_TEST_NODE": marker}, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return marker if head_port is not None else f"{marker}:{gcs}"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").exists(), reason="finds the nodes' processes in /proc")
def test_a_token_auth_cluster_that_loses_a_node_finishes_the_queue(tmp_path):
    token = tmp_path / "cluster-token"
    token.write_text(__import__("secrets").token_hex(32))
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH") and k != "RAY_ADDRESS"}
    base["PYTHONPATH"] = os.pathsep.join([f"{TESTS_DIR}/plugins", os.environ.get("PYTHONPATH", "")])
    nodes_env = {**base, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
                 # a lost node is noticed in seconds, not the default half minute
                 "RAY_health_check_initial_delay_ms": "0", "RAY_health_check_period_ms": "1000",
                 "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "3"}
    markers_started = []
    temp_dir = tempfile.mkdtemp(prefix="lbr-")  # short: Ray's socket paths must fit in 107 bytes
    try:
        head, port = _start_node(temp_dir, "head", nodes_env, None).rsplit(":", 1)
        markers_started.append(head)
        worker = _start_node(temp_dir, "worker", nodes_env, int(port))
        markers_started.append(worker)
        markers = tmp_path / "markers"
        names = {f"t{i}": "slow" for i in range(6)}
        suite = tmp_path / "suite.yaml"
        suite.write_text(suite_text(markers, names, epochs=4, retries=2, extra={n: ", sleep: 1" for n in names})
                         .replace("dashboard: false, auth: false, num_cpus: 2", "dashboard: false"))
        results = tmp_path / "results"
        address = f"127.0.0.1:{port}"

        # no token on this machine yet: one clear message, at once
        home = tmp_path / "home"
        (home / ".ray").mkdir(parents=True)
        t0 = time.time()
        proc = cli(["run", str(suite), "--results", str(results), "--address", address], env={**base, "HOME": str(home)})
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 2 and "requires token authentication" in out and "auth_token" in out, out
        assert len(out.strip().splitlines()) <= 4 and time.time() - t0 < 90, out

        # the README recipe: the head's token in ~/.ray/auth_token (lore-bench makes it 0600)
        (home / ".ray" / "auth_token").write_text(token.read_text())
        os.chmod(home / ".ray" / "auth_token", 0o644)
        proc = cli(["run", str(suite), "--results", str(results), "--address", address], env={**base, "HOME": str(home)})
        try:
            def on_worker_node():
                for name in names:
                    for line in ((markers / name / "sklearn_digits-1.epochs").read_text().splitlines()
                                 if (markers / name / "sklearn_digits-1.epochs").exists() else []):
                        if int(line.split()[0]) in _pids_marked(worker):
                            return True
                return False

            assert wait_for(on_worker_node, 400, proc), "no trial ran on the worker node"
            _kill_node(worker)  # the node is lost mid-trial
            out, _ = proc.communicate(timeout=600)
        finally:
            kill_group(proc)
        assert proc.returncode == 0, out
        df = ResultsStore(results).trials(all_versions=True)
        assert len(df) == len(names) and df["trial_id"].is_unique and set(df["status"]) == {"ok"}
        assert "retrying after attempt 1 failed" in out
        assert stat.S_IMODE((home / ".ray" / "auth_token").stat().st_mode) == 0o600
    finally:
        for marker in markers_started:
            _kill_node(marker)
        shutil.rmtree(temp_dir, ignore_errors=True)
