"""Fan pending trials out with Ray Tune; the driver alone writes the store.

What is done is decided by the results store, never by Tune's experiment state
(after a SIGKILL of the driver that state can lag): a rerun skips every trial
stored as ok, and a trial that was mid-way resumes from its per-epoch
checkpoint. Trials that others depend on run in an earlier wave.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import ray
from ray import tune

from ...results.rows import failure_row
from ...results.store import ResultsStore
from ..engine.checkpoint import checkpoint_file
from ..plan import dependencies, pending_specs, waves, with_dependencies
from ..spec import TrialSpec
from .progress import Printer, StoreCallback, trial_dirname, trial_label
from .ray_session import init_ray, plugin_runtime_env
from .trainable import lore_trainable


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

    def checkpoints(self) -> Path:
        if self.checkpoint_dir:
            return Path(self.checkpoint_dir).expanduser().resolve()
        return Path(self.results_dir).expanduser().resolve() / "checkpoints"


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
    stored_ok: set[str] = field(default_factory=set)  # trial_ids stored ok by this run


def plan_run(specs: list[TrialSpec], store: ResultsStore, checkpoints: Path) -> tuple[list[TrialSpec], list[TrialSpec]]:
    """(every trial of the run, the ones still to do) — the store decides."""
    specs = with_dependencies(specs)
    todo = pending_specs(specs, store.completed_trial_ids(),
                         has_checkpoint=lambda s: checkpoint_file(checkpoints, s.trial_id).exists())
    return specs, todo


def run_suite(specs: list[TrialSpec], options: RunOptions, printer: Printer = print) -> RunSummary:
    store = ResultsStore(options.results_dir)
    specs, todo = plan_run(specs, store, options.checkpoints())
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
        summary.dashboard_url = init_ray(options, plugin_runtime_env(todo, remote))
        if summary.dashboard_url:
            auth = " (token auth: see ~/.ray/auth_token)" if options.auth else ""
            printer(f"Ray dashboard: {summary.dashboard_url}{auth}")
    try:
        pending_ids = {s.trial_id for s in todo}
        for wave in waves(todo):
            runnable = [s for s in wave if _dependencies_ok(s, pending_ids, summary, store, printer)]
            if runnable:
                _fit(runnable, options, store, summary, printer, remaining=len(todo))
    finally:
        store.release()  # whatever did not finish: free for the next driver
        if started_ray:
            ray.shutdown()
    summary.wall_seconds = time.time() - t0
    return summary


def _dependencies_ok(spec: TrialSpec, pending_ids: set[str], summary: RunSummary, store: ResultsStore,
                     printer: Printer) -> bool:
    """A trial whose dependency failed in this run is recorded failed, not run."""
    failed = [d for d in dependencies(spec) if d.trial_id in pending_ids and d.trial_id not in summary.stored_ok]
    if not failed:
        return True
    error = f"depends on trial {failed[0].trial_id} ({failed[0].short()}), which did not finish ok in this run"
    store.write_trial([failure_row(spec, error)])
    store.release([spec.trial_id])
    summary.failed += 1
    summary.errors.append(f"{spec.short()}: {error}")
    printer(f"{spec.short()}: FAILED ({error})")
    return False


def _fit(todo: list[TrialSpec], options: RunOptions, store: ResultsStore, summary: RunSummary, printer: Printer,
         remaining: int) -> None:
    # Our own progress lines replace Tune's tables; keep Tune's INFO chatter out of them.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    logging.getLogger("ray.tune").setLevel(logging.WARNING)
    results = Path(options.results_dir).expanduser().resolve()
    resources = {"cpu": options.cpu_per_trial, "gpu": options.gpu_per_trial}
    cluster_cpus = ray.cluster_resources().get("CPU", 1)
    concurrency = options.max_concurrent or max(1, int(cluster_cpus // max(options.cpu_per_trial, 1e-9)))
    printer(f"running {len(todo)} trials, up to {concurrency} at a time ({resources['cpu']} CPU, "
            f"{resources['gpu']} GPU each)")
    done_before = summary.ok + summary.diverged + summary.failed
    callback = StoreCallback(store, summary, remaining - done_before, printer, concurrency)
    tuner = tune.Tuner(
        tune.with_resources(lore_trainable, resources),
        param_space={"spec": tune.grid_search([s.to_json() for s in todo]), "checkpoint_dir": str(options.checkpoints())},
        tune_config=tune.TuneConfig(max_concurrent_trials=options.max_concurrent or None, reuse_actors=True,
                                    trial_name_creator=trial_label, trial_dirname_creator=trial_dirname),
        run_config=tune.RunConfig(
            name=f"lore-bench-{time.strftime('%Y%m%d-%H%M%S')}",
            storage_path=str(results / "_ray"),
            failure_config=tune.FailureConfig(max_failures=options.retries),
            callbacks=[callback],
            verbose=0,
        ),
    )
    tuner.fit()
