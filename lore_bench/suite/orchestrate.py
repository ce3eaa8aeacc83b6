"""Fan pending trials out with Ray Tune; the driver alone writes the store.

What is done is decided by the results store, never by Tune's experiment state
(after a SIGKILL of the driver that state can lag): a rerun skips every trial
stored as ok, and a trial that was mid-way resumes from its per-epoch
checkpoint.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import ray
from ray import tune

from ..results.schema import STATUS_FAILED, STATUS_OK
from ..results.store import ResultsStore
from .engine import base_row
from .spec import TrialSpec
from .trainable import EPOCHS_KEY, ROWS_KEY, lore_trainable

Printer = Callable[[str], None]


@dataclass
class RunOptions:
    results_dir: str = "results"
    checkpoint_dir: str | None = None  # default <results>/checkpoints
    address: str | None = None  # join a cluster ("auto", "ray://host:10001"); None: start a local Ray
    dashboard: bool = True
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8265
    auth: bool = True  # Ray's token authentication; False sets RAY_AUTH_MODE=disabled
    num_cpus: int | None = None
    num_gpus: int | None = None
    cpu_per_trial: float = 1
    gpu_per_trial: float = 0
    max_concurrent: int = 0  # 0: as many as the resources allow
    retries: int = 1
    object_store_memory: int | None = None
    temp_dir: str | None = None
    log_to_driver: bool = False


@dataclass
class RunSummary:
    total: int
    skipped: int
    held: int = 0  # pending trials another live driver on the same store is running
    ok: int = 0
    failed: int = 0
    diverged: int = 0
    wall_seconds: float = 0.0
    trial_seconds: float = 0.0  # sum of per-trial train + eval time
    dashboard_url: str | None = None
    errors: list[str] = field(default_factory=list)


def pending_specs(specs: list[TrialSpec], store: ResultsStore) -> list[TrialSpec]:
    done = store.completed_trial_ids()
    return [s for s in specs if s.trial_id not in done]


class StoreCallback(tune.Callback):
    """Writes each finished trial's rows to the store and prints progress."""

    def __init__(self, store: ResultsStore, summary: RunSummary, pending: int, printer: Printer, concurrency: int):
        self.store, self.summary, self.printer = store, summary, printer
        self.pending, self.running = pending, set()
        self.started_at: dict[str, float] = {}
        self.durations: list[float] = []
        self.concurrency = max(1, concurrency)
        self.t0 = time.time()

    def on_trial_start(self, iteration, trials, trial, **info):
        self.running.add(trial.trial_id)
        self.started_at.setdefault(trial.trial_id, time.time())

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if ROWS_KEY not in result:
            return
        rows = json.loads(result[ROWS_KEY])
        epochs = json.loads(result.get(EPOCHS_KEY) or "[]")
        self.store.write_trial(rows, epochs)
        self.store.release([rows[0]["trial_id"]])  # stored first, then released: no other driver reruns it
        statuses = {r.get("status") for r in rows}
        if statuses <= {STATUS_OK}:
            self.summary.ok += 1
        else:
            self.summary.diverged += 1
        self.summary.trial_seconds += sum((r.get("train_seconds") or 0) + (r.get("eval_seconds") or 0) for r in rows)
        top1 = rows[-1].get("top1")
        self._finished(trial, f"{_label(trial)}: " + (f"top-1 {top1:.1f}%" if top1 is not None else rows[-1].get("status", "")))

    def on_trial_error(self, iteration, trials, trial, **info):
        spec = TrialSpec.from_json(trial.config["spec"])
        error = _error_text(trial)
        row = {**base_row(spec, None, None), "stage": "main", "eval_split": "test", "status": STATUS_FAILED,
               "error": error}
        self.store.write_trial([row])
        self.store.release([spec.trial_id])
        self.summary.failed += 1
        last_line = error.strip().splitlines()[-1] if error.strip() else "error"
        self.summary.errors.append(f"{spec.short()}: {last_line}")
        self._finished(trial, f"{spec.short()}: FAILED ({last_line})")

    def _finished(self, trial, message: str) -> None:
        self.running.discard(trial.trial_id)
        self.durations.append(time.time() - self.started_at.get(trial.trial_id, self.t0))
        self.pending -= 1
        done = self.summary.ok + self.summary.diverged
        eta = ""
        if self.durations and self.pending > 0:
            per_trial = sum(self.durations) / len(self.durations)
            eta = f" · ETA {_fmt_seconds(per_trial * self.pending / self.concurrency)}"
        self.printer(f"[{done + self.summary.failed}/{self.summary.total - self.summary.skipped}] done {done}"
                     f" · running {len(self.running)} · failed {self.summary.failed} · pending"
                     f" {max(0, self.pending - len(self.running))}{eta} — {message}")


def _label(trial) -> str:
    try:
        return TrialSpec.from_json(trial.config["spec"]).short()
    except Exception:
        return str(trial)


def _error_text(trial) -> str:
    path = getattr(trial, "error_file", None)
    if path and os.path.exists(path):
        with open(path) as fh:
            return fh.read()[-4000:]
    return "trial failed (no error file)"


def _fmt_seconds(s: float) -> str:
    return f"{int(s // 60)}m{int(s % 60):02d}s" if s >= 60 else f"{s:.0f}s"


def _plugin_runtime_env(specs: list[TrialSpec], remote: bool) -> dict:
    """Ship suite-declared plugin code to the workers: the module's import root
    on PYTHONPATH for a local Ray, the package directory for a cluster."""
    roots, packages = set(), set()
    for spec in specs:
        if not spec.plugin:
            continue
        module = spec.plugin.split(":")[0]
        found = importlib.util.find_spec(module.split(".")[0])
        if found is None or not found.origin:
            continue
        top = Path(found.origin).parent if found.submodule_search_locations else Path(found.origin)
        packages.add(str(top))
        roots.add(str(top.parent))
    if not roots:
        return {}
    if remote:
        return {"py_modules": sorted(packages)}
    path = os.pathsep.join(sorted(roots) + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return {"env_vars": {"PYTHONPATH": path}}


def _init_ray(options: RunOptions, runtime_env: dict) -> str | None:
    if not options.auth:
        os.environ["RAY_AUTH_MODE"] = "disabled"
    env_vars = {k: os.environ[k] for k in ("HF_HUB_OFFLINE", "LORE_BENCH_CACHE", "LORE_BENCH_DATA",
                                           "LORE_BENCH_GIT_SHA") if k in os.environ}
    runtime_env = {**runtime_env, "env_vars": {**env_vars, **runtime_env.get("env_vars", {})}}
    address = options.address or os.environ.get("RAY_ADDRESS")
    if address:
        ctx = ray.init(address=address, runtime_env=runtime_env, log_to_driver=options.log_to_driver)
    else:
        kwargs = {}
        if options.temp_dir:
            kwargs["_temp_dir"] = options.temp_dir
        if options.object_store_memory:
            kwargs["object_store_memory"] = options.object_store_memory
        ctx = ray.init(num_cpus=options.num_cpus, num_gpus=options.num_gpus, include_dashboard=options.dashboard,
                       dashboard_host=options.dashboard_host, dashboard_port=options.dashboard_port,
                       runtime_env=runtime_env, log_to_driver=options.log_to_driver, **kwargs)
    url = getattr(ctx, "dashboard_url", None)
    return f"http://{url}" if url and not url.startswith("http") else url


def run_suite(specs: list[TrialSpec], options: RunOptions, printer: Printer = print) -> RunSummary:
    store = ResultsStore(options.results_dir)
    todo = pending_specs(specs, store)
    summary = RunSummary(total=len(specs), skipped=len(specs) - len(todo))
    if summary.skipped:
        printer(f"{summary.skipped} of {len(specs)} trials already stored as ok: skipped")
    if not todo:
        return summary
    # Leases: a second driver on this store takes only the trials nobody holds.
    claimed = store.claim([s.trial_id for s in todo])
    summary.held = len(todo) - len(claimed)
    todo = [s for s in todo if s.trial_id in claimed]
    if summary.held:
        printer(f"{summary.held} of {len(specs)} trials are being run by another driver on this store: left to it")
    if not todo:
        return summary
    t0 = time.time()
    started_ray = not ray.is_initialized()
    if started_ray:
        remote = bool(options.address or os.environ.get("RAY_ADDRESS"))
        summary.dashboard_url = _init_ray(options, _plugin_runtime_env(todo, remote))
        if summary.dashboard_url:
            auth = " (token auth: see ~/.ray/auth_token)" if options.auth else ""
            printer(f"Ray dashboard: {summary.dashboard_url}{auth}")
    try:
        _fit(todo, options, store, summary, printer)
    finally:
        store.release()  # whatever did not finish: free for the next driver
        if started_ray:
            ray.shutdown()
    summary.wall_seconds = time.time() - t0
    return summary


def _fit(todo: list[TrialSpec], options: RunOptions, store: ResultsStore, summary: RunSummary, printer: Printer):
    # Our own progress lines replace Tune's tables; keep Tune's INFO chatter out of them.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    logging.getLogger("ray.tune").setLevel(logging.WARNING)
    results = Path(options.results_dir).expanduser().resolve()
    checkpoints = Path(options.checkpoint_dir).expanduser().resolve() if options.checkpoint_dir else results / "checkpoints"
    resources = {"cpu": options.cpu_per_trial, "gpu": options.gpu_per_trial}
    cluster_cpus = ray.cluster_resources().get("CPU", 1)
    concurrency = options.max_concurrent or max(1, int(cluster_cpus // max(options.cpu_per_trial, 1e-9)))
    printer(f"running {len(todo)} trials, up to {concurrency} at a time ({resources['cpu']} CPU, "
            f"{resources['gpu']} GPU each)")
    callback = StoreCallback(store, summary, len(todo), printer, concurrency)
    tuner = tune.Tuner(
        tune.with_resources(lore_trainable, resources),
        param_space={"spec": tune.grid_search([s.to_json() for s in todo]), "checkpoint_dir": str(checkpoints)},
        tune_config=tune.TuneConfig(max_concurrent_trials=options.max_concurrent or None, reuse_actors=True,
                                    trial_name_creator=_label, trial_dirname_creator=_dirname),
        run_config=tune.RunConfig(
            name=f"lore-bench-{time.strftime('%Y%m%d-%H%M%S')}",
            storage_path=str(results / "_ray"),
            failure_config=tune.FailureConfig(max_failures=options.retries),
            callbacks=[callback],
            verbose=0,
        ),
    )
    tuner.fit()


def _dirname(trial) -> str:
    try:
        return TrialSpec.from_json(trial.config["spec"]).trial_id
    except Exception:
        return trial.trial_id

