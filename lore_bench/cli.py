"""`lore-bench` command line: parses arguments and calls the layers below.

Exit codes: 0 every trial of the run is stored ok; 1 some trial failed or
diverged (in this run, or stored so by an earlier one and not retried), or the
run stopped early (a full disk); 2 bad input (suite file, flags) or a Ray
cluster that cannot be reached or joined.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SUITES_DIR = Path(__file__).resolve().parent / "suites"  # the paper's suites, shipped as package data

EPILOG = """examples:
  lore-bench run suite.yaml                      embedded default: offline, CPU, minutes
  lore-bench run suite.yaml --only method=coop,lore,dataset=mnist --dry-run
  lore-bench run table1_fewshot_vitb16 --address auto  (a shipped suite, by name)
  lore-bench report                              tables + plots from ./results
  lore-bench validate suite.yaml
  lore-bench ls methods
  lore-bench data doctor
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lore-bench", description="Benchmark parameter-efficient transfer methods "
                                "(LORE, CoOp, VPT, ...) for pre-trained ViTs, orchestrated with Ray Tune.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def suite_args(sp):
        sp.add_argument("suite", help="suite YAML file, or the name of a shipped suite (lore-bench ls suites)")
        sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a suite value, e.g. --set training.epochs=2 or "
                             "--set methods.coop.training.lr=0.01 (repeatable; value is YAML)")

    run = sub.add_parser("run", help="run a suite (skips trials already stored)", formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Expand the suite into trials, skip those already stored as ok, run the rest "
                                     "with Ray Tune and store every result in Parquet.")
    suite_args(run)
    run.add_argument("--only", metavar="KEY=V[,V...][,KEY=V...]",
                     help="run a subset: keys method, dataset, backbone, shots, seed, protocol")
    run.add_argument("--dry-run", action="store_true", help="print the trial table and count; start nothing")
    run.add_argument("--results", help="results directory (default: the suite's 'results', else ./results)")
    run.add_argument("--address", help="join a Ray cluster (e.g. auto, ray://head:10001); default RAY_ADDRESS or a local Ray")
    run.add_argument("--no-dashboard", action="store_true", help="start the local Ray without its dashboard")
    run.add_argument("--dashboard-host", default=None, help="dashboard bind address (default 127.0.0.1: this machine only)")
    run.add_argument("--dashboard-port", type=int, default=None)
    run.add_argument("--no-auth", action="store_true", help="turn Ray's token authentication off (trusted networks only)")
    run.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    run.add_argument("--max-concurrent", type=int, help="at most this many trials at once")
    run.add_argument("--retries", type=int, help="retries of a failed trial (default: the suite's, else 1)")
    run.add_argument("--retry-failed", action="store_true",
                     help="rerun trials stored as failed (default: they are kept, and the exit code is 1)")
    run.add_argument("--retry-diverged", action="store_true",
                     help="rerun trials stored as diverged (non-finite loss; default: stored once, not rerun)")
    run.add_argument("--checkpoints", metavar="DIR",
                     help="per-epoch checkpoint directory (default <results>/checkpoints); on a cluster, a path "
                          "every node shares (NFS) lets a retried trial resume on any node")
    run.add_argument("--keep-checkpoints", action="store_true",
                     help="keep each trial's checkpoint after its row is stored (default: removed, except "
                          "those other trials depend on)")
    run.add_argument("--verbose", action="store_true", help="forward the workers' logs to this terminal")

    val = sub.add_parser("validate", help="check a suite file without starting Ray")
    suite_args(val)

    rep = sub.add_parser("report", help="tables and plots from the stored results")
    rep.add_argument("--results", default="results", help="results directory (default ./results)")
    rep.add_argument("--suite", help="only this suite's rows")
    rep.add_argument("--out", default="reports", help="output directory (default ./reports)")
    rep.add_argument("--format", default="md,tex,csv,html", help="comma-separated: md,tex,csv,html")

    ls = sub.add_parser("ls", help="list methods, datasets, backbones, protocols or suites")
    ls.add_argument("what", choices=["methods", "datasets", "backbones", "protocols", "suites"])

    data = sub.add_parser("data", help="dataset tools")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    doctor = data_sub.add_parser("doctor", help="which datasets are prepared, which are missing, how to get them")
    doctor.add_argument("name", nargs="?", help="one dataset (default: all)")
    doctor.add_argument("--root", help=f"data root (default ${'LORE_BENCH_DATA'} or ~/lore_bench_data)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from .suite.config import SuiteError

    try:
        handler = {"run": _run, "validate": _validate, "report": _report, "ls": _ls, "data": _data}[args.command]
        return handler(args)
    except SuiteError as err:
        print(f"error: {err.render()}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted; stored results are kept — rerun the same command to continue", file=sys.stderr)
        return 130


def suite_path(name_or_path: str) -> Path:
    """A suite file path, or the name of a shipped suite (``table1_fewshot_vitb16``)."""
    path = Path(name_or_path)
    if path.exists() or path.suffix in {".yaml", ".yml"} or os.sep in name_or_path:
        return path
    shipped = SUITES_DIR / f"{name_or_path}.yaml"
    return shipped if shipped.exists() else path


def _load(args):
    from .suite.config import load_suite
    from .suite.expand import apply_only, expand, parse_only

    suite = load_suite(suite_path(args.suite), args.overrides)
    specs = expand(suite)
    if getattr(args, "only", None):
        try:
            specs = apply_only(specs, parse_only(args.only))
        except ValueError as err:
            from .suite.config import SuiteError

            raise SuiteError("--only", None, "--only", str(err)) from None
    return suite, specs


def _validate(args) -> int:
    suite, specs = _load(args)
    print(f"{args.suite}: ok — suite '{suite.name}', {len(specs)} trials "
          f"({len(suite.methods)} methods x {len(suite.datasets)} datasets x {len(suite.backbones)} backbones, "
          f"shots {suite.shots}, seeds {suite.seeds})")
    return EXIT_OK


def _run(args) -> int:
    from .suite.trial_table import trial_table

    suite, specs = _load(args)
    results = args.results or suite.results
    if args.dry_run:
        from .results.store import ResultsStore
        from .suite.plan import plan_pending, with_dependencies

        specs = with_dependencies(specs)
        todo, _ = plan_pending(specs, ResultsStore(results), retry_failed=args.retry_failed,
                               retry_diverged=args.retry_diverged)
        pending = {s.trial_id for s in todo}
        print(trial_table(specs, pending))
        print(f"{len(specs)} trials ({len(pending)} to run, {len(specs) - len(pending)} already stored in {results})")
        return EXIT_OK
    from .suite.orchestrate import RunOptions, run_suite

    ray_cfg, res = suite.ray, suite.resources
    options = RunOptions(
        results_dir=results,
        address=args.address or ray_cfg.get("address"),
        dashboard=not args.no_dashboard and ray_cfg.get("dashboard", True),
        dashboard_host=args.dashboard_host or ray_cfg.get("dashboard_host", "127.0.0.1"),
        dashboard_port=args.dashboard_port or ray_cfg.get("dashboard_port"),
        auth=not args.no_auth and ray_cfg.get("auth", True),
        num_cpus=args.num_cpus or ray_cfg.get("num_cpus"),
        num_gpus=ray_cfg.get("num_gpus"),
        cpu_per_trial=res.get("cpu", 1), gpu_per_trial=res.get("gpu", 0),
        max_concurrent=args.max_concurrent if args.max_concurrent is not None else res.get("max_concurrent", 0),
        retries=args.retries if args.retries is not None else res.get("retries", 1),
        log_to_driver=args.verbose,
        checkpoint_dir=args.checkpoints or ray_cfg.get("checkpoint_dir"),
        keep_checkpoints=args.keep_checkpoints or ray_cfg.get("keep_checkpoints", False),
        retry_failed=args.retry_failed, retry_diverged=args.retry_diverged,
    )
    if options.checkpoint_dir and "://" in options.checkpoint_dir:
        print(f"error: --checkpoints / ray.checkpoint_dir takes a directory ('{options.checkpoint_dir}' is a URI); "
              "on a cluster give a path every node mounts (NFS, a shared disk)", file=sys.stderr)
        return EXIT_USAGE
    print(f"suite '{suite.name}': {len(specs)} trials; results in {Path(results).resolve()}")
    from .suite.orchestrate.ray_session import ClusterError

    try:
        summary = run_suite(specs, options)
    except ClusterError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if summary.wall_seconds:
        print(f"{'stopped after' if summary.fatal else 'finished in'} {summary.wall_seconds:.0f}s: {summary.ok} ok, {summary.diverged} diverged, "
              f"{summary.failed} failed, {summary.skipped} skipped (already stored); the trials' own "
              f"train + eval time sums to {summary.trial_seconds:.0f}s")
    for error in summary.errors:
        print(f"  failed: {error}", file=sys.stderr)
    for status, n in summary.left_as_stored.items():
        print(f"  {n} trial(s) stored as {status} by an earlier run, not rerun (--retry-{status} reruns them)",
              file=sys.stderr)
    if summary.fatal:
        print(f"error: the run stopped: {summary.fatal}; free space and rerun the same command "
              "(stored trials are skipped, unfinished ones resume)", file=sys.stderr)
        return EXIT_FAILED
    _print_summary_table(results, suite.name)
    print(f"next: lore-bench report --results {results}")
    return EXIT_OK if summary.all_ok else EXIT_FAILED


def _print_summary_table(results: str, suite_name: str) -> None:
    from .plots.report import markdown_summary
    from .results.store import ResultsStore

    df = ResultsStore(results).trials()
    if not df.empty:
        print(markdown_summary(df[df["suite"] == suite_name]))


def _report(args) -> int:
    from .plots.report import build_report, markdown_summary
    from .results.store import ResultsStore

    df = ResultsStore(args.results).trials()
    if args.suite and not df.empty and args.suite not in set(df["suite"]):
        known = ", ".join(sorted(set(df["suite"]))) or "(none)"
        print(f"error: no rows of suite '{args.suite}' in {args.results}; stored suites: {known}", file=sys.stderr)
        return EXIT_USAGE
    if df.empty:
        print(f"error: no results in {args.results}; run a suite first (lore-bench run suite.yaml)", file=sys.stderr)
        return EXIT_USAGE
    if args.suite:
        df = df[df["suite"] == args.suite]
    print(markdown_summary(df))
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    try:
        summary = build_report(args.results, args.out, formats=formats, suite=args.suite)
    except ValueError as err:  # ReportError and unknown formats: a message, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(summary)
    return EXIT_OK


def _ls(args) -> int:
    if args.what == "methods":
        from .methods.registry import METHODS

        for name in METHODS.names():
            cls = METHODS.get(name)
            doc = (cls.__doc__ or sys.modules[cls.__module__].__doc__ or "").strip().splitlines()
            print(f"{name:16s} {doc[0] if doc else ''}")
    elif args.what == "datasets":
        from .benchmarks import DATASETS

        for name in DATASETS.names():
            cls = DATASETS.get(name)
            kind = "embedded" if getattr(cls, "embedded", False) else "prepare under the data root"
            classes = cls.classnames if isinstance(cls.classnames, (list, tuple)) else None
            n = len(classes) if classes is not None else getattr(cls, "num_classes", None)
            count = f"{n:5d}" if isinstance(n, int) else "    ?"
            print(f"{name:18s} {count} classes  ({kind})")
    elif args.what == "backbones":
        from .backbones import NAMED_BACKBONES

        for name, cfg in NAMED_BACKBONES.items():
            print(f"{name:22s} {cfg['type']}: {cfg['arch']} / {cfg.get('pretrained')}")
    elif args.what == "protocols":
        from .suite.protocols import PROTOCOLS

        for name, cls in PROTOCOLS.items():
            doc = (cls.__doc__ or "").strip().splitlines()
            note = "" if cls.selectable else " (assigned by the expansion)"
            print(f"{name:16s} {doc[0] if doc else ''}{note}")
    else:
        for path in sorted(SUITES_DIR.glob("*.yaml")):
            print(f"{path.stem:28s} {path}")
        for path in sorted(Path.cwd().glob("suite*.yaml")):
            print(f"{'(this folder)':28s} {path}")
    return EXIT_OK


def _data(args) -> int:
    from .benchmarks.doctor import doctor_all, format_reports

    reports = doctor_all([args.name] if args.name else None, args.root)
    print(format_reports(reports))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
