"""Fan pending trials out with Ray Tune; the driver alone writes the store.

What is done is decided by the results store, never by Tune's experiment state
(after a SIGKILL of the driver that state can lag): a rerun skips every trial
stored as ok (and, unless asked to retry them, those stored failed or
diverged), and a trial that was mid-way resumes from its per-epoch checkpoint.
All pending trials go through one Tune loop; a trial that depends on others
(a frozen task's White Box, an easy stage, a tuned cell's searches) is handed
to Tune once they are stored ok (trial_queue.py).

Faults stay inside their trial: Tune retries a trial that raised, lost its
worker or its node (``resources.retries``), then the callback records it failed
with a one-line cause. Should Tune's loop itself abort, the trials that were
running are charged an attempt and the rest of the queue runs in a new loop.
A full disk ends the run with one message.
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import ray
from ray import tune

from ...results.store import ResultsStore
from ...methods.registry import resolve_method
from .. import packing
from ..engine.checkpoint import CheckpointRoot, checkpoint_root
from ..plan import plan_pending, with_dependencies
from ..protocols import resolve_protocol
from ..spec import TrialSpec
from .checkpoints import discard_consumed, readers_of
from .faults import DiskFull, failure_cause, is_disk_full, survive_worker_deaths
from .progress import Printer, StoreCallback, trial_dirname, trial_label
from .schedulers import GroupedScheduler
from .ray_session import init_ray, plugin_runtime_env
from .timeline import Timeline
from .trainable import lore_trainable
from .trial_queue import TrialQueue


@dataclass
class RunOptions:
    results_dir: str = "results"
    checkpoint_dir: str | None = None  # default <results>/checkpoints; on a cluster, a shared path or a URI (s3://...)
    keep_checkpoints: bool = False  # keep every trial's checkpoint after its row is stored
    retry_failed: bool = False  # rerun trials stored as failed
    retry_diverged: bool = False  # rerun trials stored as diverged
    address: str | None = None  # join a cluster ("auto", "host:6379", "ray://host:10001"); None: start a local Ray
    dashboard: bool = True
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int | None = None  # None: 8265 or the next free port (an explicit busy port is an error)
    auth: bool = True  # Ray's token authentication; False sets RAY_AUTH_MODE=disabled
    num_cpus: int | None = None
    num_gpus: int | None = None
    cpu_per_trial: float = 1
    gpu_per_trial: float = 0
    pack: bool = True  # small trials share a GPU (suite/packing.py)
    gpu_per_method: dict = field(default_factory=dict)  # {method: GPU share}, the suite's override
    gpu_memory_gb: float | None = None  # None: the driver's first CUDA device, if any
    trial_gpu: dict[str, float] | None = None  # trial_id -> GPU share; run_suite fills it (gpu_shares)
    max_concurrent: int = 0  # 0: as many as the resources allow
    retries: int = 1
    object_store_memory: int | None = None
    temp_dir: str | None = None
    log_to_driver: bool = False

    def checkpoints(self) -> CheckpointRoot:
        return checkpoint_root(self.checkpoint_dir or Path(self.results_dir) / "checkpoints")


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
    left_as_stored: dict[str, int] = field(default_factory=dict)  # status -> trials not rerun (failed / diverged)
    fatal: str | None = None  # why the run stopped early (a full disk)
    timeline: Timeline = field(default_factory=Timeline)  # where the wall time went (timeline.py)

    @property
    def all_ok(self) -> bool:
        """Every trial of the run is stored ok (the exit code says so)."""
        return not (self.failed or self.diverged or self.fatal or any(self.left_as_stored.values()))


def plan_run(specs: list[TrialSpec], store: ResultsStore, checkpoints: CheckpointRoot, retry_failed: bool = False,
             retry_diverged: bool = False) -> tuple[list[TrialSpec], list[TrialSpec], dict[str, str]]:
    """(every trial of the run, the ones still to do, the stored statuses) — the store decides."""
    specs = with_dependencies(specs)
    todo, statuses = plan_pending(specs, store, lambda s: checkpoints.exists(s.trial_id),
                                  retry_failed, retry_diverged)
    return specs, todo, statuses


def run_suite(specs: list[TrialSpec], options: RunOptions, printer: Printer = print) -> RunSummary:
    store = ResultsStore(options.results_dir)
    specs, todo, statuses = plan_run(specs, store, options.checkpoints(), options.retry_failed, options.retry_diverged)
    summary = RunSummary(total=len(specs), skipped=len(specs) - len(todo))
    pending_ids = {s.trial_id for s in todo}
    for status in ("failed", "diverged"):
        n = sum(1 for t, st in statuses.items() if st == status and t not in pending_ids)
        if n:
            summary.left_as_stored[status] = n
    _print_skipped(summary, len(specs), printer)
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
    summary.timeline.t0 = t0
    # Ctrl-C must stop the driver: Tune's own SIGINT handler would end only the
    # current loop (and the next wave would start).
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    started_ray = not ray.is_initialized()
    if started_ray:
        remote = bool(options.address or os.environ.get("RAY_ADDRESS"))
        summary.dashboard_url = init_ray(options, plugin_runtime_env(todo, remote))
        if summary.dashboard_url:
            auth = " (token auth: see ~/.ray/auth_token)" if options.auth else ""
            printer(f"Ray dashboard: {summary.dashboard_url}{auth}")
    summary.timeline.ray_ready = time.time()
    survive_worker_deaths()
    readers = readers_of(specs)
    keep = set(readers)  # checkpoints other trials read
    options = replace(options, trial_gpu=gpu_shares(todo, options, store, printer))
    try:
        ok_before = {t for t, st in statuses.items() if st == "ok" and t not in pending_ids}
        _run_all(todo, options, store, summary, printer, ok_before, keep)
        if not options.keep_checkpoints:
            discard_consumed(str(options.checkpoints()), readers, ok_before | summary.stored_ok)
    except DiskFull as err:
        summary.fatal = str(err)
    except OSError as err:  # a dependent's failure row, written outside Tune
        if not is_disk_full(err):
            raise
        summary.fatal = _disk_full_message(err, options)
    finally:
        store.release()  # whatever did not finish: free for the next driver
        if started_ray:
            ray.shutdown()
    summary.timeline.t1 = time.time()
    summary.wall_seconds = summary.timeline.t1 - t0
    return summary


def _print_skipped(summary: RunSummary, total: int, printer: Printer) -> None:
    if not summary.skipped:
        return
    left = summary.left_as_stored
    ok = summary.skipped - sum(left.values())
    extra = "".join(f", {n} stored as {status} (rerun with --retry-{status})" for status, n in left.items())
    printer(f"{summary.skipped} of {total} trials already stored: {ok} ok{extra}; skipped")


def _run_all(todo: list[TrialSpec], options: RunOptions, store: ResultsStore, summary: RunSummary,
             printer: Printer, ok_before: set[str], keep: set[str]) -> None:
    """Every pending trial through one Tune loop (trial_queue.py). If Tune's
    loop aborts (a Tune or Ray error that is no trial's own), the trials it was
    running are charged an attempt and the unfinished rest runs in a new loop."""
    in_run = {s.trial_id for s in todo}
    queue, aborts, finished = list(todo), {}, set()  # finished: recorded by an earlier loop of this run
    while queue:
        callback = StoreCallback(store, summary, len(todo) - (summary.ok + summary.diverged + summary.failed),
                                 printer, _concurrency(options, queue))
        summary.timeline.slots = max(summary.timeline.slots, callback.concurrency)

        def blocked(spec: TrialSpec, dependency: TrialSpec, callback=callback) -> None:
            """A trial whose dependency is not stored ok (it failed in this run, or is stored
            failed and not retried) is recorded failed, not run."""
            callback.record_failure(spec, f"depends on trial {dependency.trial_id} ({dependency.short()}), "
                                          "which is not stored ok")

        trial_queue = TrialQueue(
            queue, {"checkpoint_dir": str(options.checkpoints()),
                    "keep_checkpoints": sorted(keep) if not options.keep_checkpoints else True},
            is_ok=lambda t: t in ok_before or t in summary.stored_ok,
            is_settled=lambda t, cb=callback: t in finished or t in cb.finished or t not in in_run,
            on_blocked=blocked)
        try:
            _fit(trial_queue, queue, options, callback)
            return
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - decided below: disk full ends the run, else retry
            if callback.fatal or is_disk_full(err):
                raise DiskFull(callback.fatal or _disk_full_message(err, options)) from None
            running = [s for s in queue if s.trial_id in callback.running_specs]
            if not running:
                raise
            cause = failure_cause(str(err))
            printer(f"Ray Tune stopped ({cause}); {len(running)} running trial(s) charged an attempt, "
                    "the rest of the queue continues")
            callback.running.clear()  # Tune's loop is gone: nothing runs any more
            for spec in running:
                aborts[spec.trial_id] = aborts.get(spec.trial_id, 0) + 1
                if aborts[spec.trial_id] > options.retries:
                    callback.record_failure(spec, f"{cause} (Ray Tune's loop stopped while it ran)")
            finished |= callback.finished
            queue = [s for s in queue if s.trial_id not in finished]


def _disk_full_message(err: BaseException, options: RunOptions) -> str:
    return (f"no space left on device (writing under {Path(options.results_dir).resolve()} or "
            f"{options.checkpoints()}): {failure_cause(str(err))}")


def _concurrency(options: RunOptions, todo: list[TrialSpec] | None = None) -> int:
    """Trials at once as the cluster's CPUs and GPUs allow (the ETA divides by it)."""
    shares = options.trial_gpu or {}
    gpus = [shares.get(s.trial_id, options.gpu_per_trial) for s in todo] if todo else [options.gpu_per_trial]
    return packing.concurrency(ray.cluster_resources(), [(options.cpu_per_trial, g) for g in gpus],
                               options.max_concurrent)


def gpu_shares(todo: list[TrialSpec], options: RunOptions, store: ResultsStore, printer: Printer) -> dict[str, float]:
    """Each pending trial's GPU share (suite/packing.py), and one line saying how trials are packed."""
    if options.gpu_per_trial <= 0:
        return {}
    resources = {"gpu": options.gpu_per_trial, "pack": options.pack, "gpu_per_method": options.gpu_per_method}
    measured = packing.measured_peaks(store.trials(columns=["method", "backbone", "status", "peak_memory_mb",
                                                            "device"]))
    memory = options.gpu_memory_gb or _driver_gpu_memory_gb()
    shares, why = {}, {}
    for spec in todo:
        declared = getattr(resolve_method(spec.method, spec.plugin), "train_memory_gb", None)
        share = packing.gpu_share(spec.method, spec.backbone_name, resources, measured, declared, memory)
        shares[spec.trial_id] = share.gpu
        why[spec.method] = f"{spec.method} {share.gpu:g} ({share.source})"
    if any(g < options.gpu_per_trial for g in shares.values()):
        printer("GPU per trial: " + ", ".join(why[m] for m in sorted(why)))
    return shares


def _driver_gpu_memory_gb() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(0).total_memory / 2**30


def _early_stopping_rules():
    """Tune trial -> the early-stopping rule its protocol gives its spec (None: runs to its end)."""
    cache: dict[str, object] = {}

    def rule_of(trial):
        if trial.trial_id not in cache:
            spec = TrialSpec.from_json(trial.config["spec"])
            cache[trial.trial_id] = resolve_protocol(spec.protocol, spec.protocol_plugin).early_stopping(spec)
        return cache[trial.trial_id]

    return rule_of


def _fit(trial_queue: TrialQueue, todo: list[TrialSpec], options: RunOptions, callback: StoreCallback) -> None:
    # Our own progress lines replace Tune's tables; keep Tune's INFO chatter out of them.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Each failed attempt gets one line from our callback (its traceback stays in
    # the trial's error file and the stored row), not Tune's 40-line log entry.
    os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")
    # The store is the record: Tune's JSON/CSV/TensorBoard copies of every
    # result (the last one holds the trial's rows) are files nobody reads.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # A custom searcher gets one pending trial by default: keep one ready per slot,
    # so a freed worker starts its next trial without waiting for a Tune step.
    pending_env = os.environ.get("TUNE_MAX_PENDING_TRIALS_PG")
    os.environ.setdefault("TUNE_MAX_PENDING_TRIALS_PG", str(max(1, callback.concurrency)))
    logging.getLogger("ray.tune").setLevel(logging.WARNING)
    # ... so Tune's end-of-run summary finds no result files: nothing reads it.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    results = Path(options.results_dir).expanduser().resolve()
    shares = {s.to_json(): (options.trial_gpu or {}).get(s.trial_id, options.gpu_per_trial) for s in todo}
    gpus = sorted(set(shares.values()))
    resources = {"cpu": options.cpu_per_trial, "gpu": gpus[0]}
    if len(gpus) > 1:  # packed trials of different methods: Ray reserves each trial's own share
        cpu = options.cpu_per_trial
        resources = lambda config: tune.PlacementGroupFactory([{"CPU": cpu, "GPU": shares[config["spec"]]}])  # noqa: E731
    callback.printer(f"running {len(todo)} trials, up to {callback.concurrency} at a time ({options.cpu_per_trial} CPU, "
                     f"{'/'.join(f'{g:g}' for g in gpus)} GPU each)")
    tuner = tune.Tuner(
        tune.with_resources(lore_trainable, resources),
        tune_config=tune.TuneConfig(search_alg=trial_queue, num_samples=-1,
                                    max_concurrent_trials=options.max_concurrent or None, reuse_actors=True,
                                    trial_name_creator=trial_label, trial_dirname_creator=trial_dirname,
                                    scheduler=GroupedScheduler(_early_stopping_rules())),
        run_config=tune.RunConfig(
            name=f"lore-bench-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}",  # one per loop
            storage_path=str(results / "_ray"),
            failure_config=tune.FailureConfig(max_failures=options.retries),
            callbacks=[callback],
            verbose=0,
        ),
    )
    try:
        tuner.fit()
    finally:
        if pending_env is None:
            os.environ.pop("TUNE_MAX_PENDING_TRIALS_PG", None)
