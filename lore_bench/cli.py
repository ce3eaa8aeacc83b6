"""`lore-bench` command line: parses arguments and calls the layers below.

Exit codes: 0 every trial of the run is stored ok; 1 some trial failed or
diverged (in this run, or stored so by an earlier one and not retried), or the
run stopped early (a full disk); 2 bad input (a suite file, a flag, a name, a
path, a data or store file) or a Ray cluster that cannot be reached or joined:
a short message naming it, what was expected and a fix, no traceback
(``--debug`` adds one); 3 an internal error, a bug in lore-bench: the
traceback, and a line that says so; 130 interrupted.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
import traceback
from pathlib import Path

from .errors import DataError, UserError, did_you_mean

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3

EPILOG = """examples:
  lore-bench run suite.yaml                      embedded default: offline, CPU, minutes
  lore-bench run suite.yaml --only method=coop,lore,dataset=mnist --dry-run
  lore-bench run table1_fewshot_vitb16 --address auto  (a shipped suite, by name)
  lore-bench report                              tables + plots from ./results
  lore-bench validate suite.yaml
  lore-bench ls methods
  lore-bench data doctor
"""


class _ArgumentError(Exception):
    """argparse found a mistake on the command line (main prints it, exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # instead of argparse's usage + SystemExit(2): one message, with a did-you-mean
        choice = re.search(r"invalid choice: '(.*?)' \(choose from (.*)\)", message)
        if choice:
            message += did_you_mean(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)))
        prog = self.prog
        unknown = re.match(r"unrecognized arguments: (\S+)", message)
        if unknown:  # argparse reports these from the top parser: name the command they were given to
            command = _command_parser(self, self.argv or [])
            prog = command.prog
            flag = unknown.group(1).split("=")[0]
            if flag.startswith("-"):
                message += _flag_hint(flag, command, self)
        raise _ArgumentError(f"{prog}: {message}\n  fix: `{prog} --help` lists the arguments")

    argv: list[str] | None = None


def _command_parser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The (sub)command parser that ``argv`` invokes (``lore-bench data doctor`` -> doctor's)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for i, token in enumerate(argv):
                if token in action.choices:
                    return _command_parser(action.choices[token], argv[i + 1:])
    return parser


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    return sorted({o for action in parser._actions for o in action.option_strings if o.startswith("--")})


def _flag_hint(flag: str, command: argparse.ArgumentParser, top: argparse.ArgumentParser) -> str:
    """A did-you-mean among the command's flags (compared without dashes), or
    the other commands that take this flag."""
    own = [o for o in _option_strings(command) if o != flag]
    hint = did_you_mean(flag.lstrip("-"), [o.lstrip("-") for o in own]).replace("'", "'--", 1)
    if hint:
        return hint
    others = [sub.prog for action in top._actions if isinstance(action, argparse._SubParsersAction)
              for sub in action.choices.values() if flag in _option_strings(sub)]
    return f"; {flag} belongs to {' and '.join(f'`{p}`' for p in others)}" if others else ""


def _int_range(low: int, high: int | None = None, note: str = ""):
    """An argparse ``type`` for integers in [low, high], with an error that says the range."""
    wanted = f"an integer >= {low}" if high is None else f"an integer in {low}..{high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}{note}, got '{text}'") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {wanted}{note}, got {value}")
        return value

    return parse


def _non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a non-empty value")
    return text


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lore-bench", description="Benchmark parameter-efficient transfer methods "
                                "(LORE, CoOp, VPT, ...) for pre-trained ViTs, orchestrated with Ray Tune.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show the traceback of an error in the input too")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    debug = _Parser(add_help=False)  # --debug after the command too; SUPPRESS keeps a --debug given before it
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def suite_args(sp):
        sp.add_argument("suite", help="suite YAML file, or the name of a shipped suite (lore-bench ls suites)")
        sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a suite value, e.g. --set training.epochs=2 or "
                             "--set methods.coop.training.lr=0.01 (repeatable; value is YAML)")

    run = sub.add_parser("run", help="run a suite (skips trials already stored)", parents=[debug],
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Expand the suite into trials, skip those already stored as ok, run the rest "
                                     "with Ray Tune and store every result in Parquet.")
    suite_args(run)
    run.add_argument("--only", metavar="KEY=V[,V...][,KEY=V...]",
                     help="run a subset: keys method, dataset, backbone, shots, seed, protocol")
    run.add_argument("--dry-run", action="store_true", help="print the trial table and count; start nothing")
    run.add_argument("--results", type=_non_empty,
                     help="results directory (default: the suite's 'results', else ./results)")
    run.add_argument("--address", type=_non_empty,
                     help="join a Ray cluster (e.g. auto, ray://head:10001); default RAY_ADDRESS or a local Ray")
    run.add_argument("--no-dashboard", action="store_true", help="start the local Ray without its dashboard")
    run.add_argument("--dashboard-host", type=_non_empty, default=None,
                     help="dashboard bind address (default 127.0.0.1: this machine only)")
    run.add_argument("--dashboard-port", type=_int_range(1, 65535), default=None, help="dashboard port (default 8265)")
    run.add_argument("--no-auth", action="store_true", help="turn Ray's token authentication off (trusted networks only)")
    run.add_argument("--num-cpus", type=_int_range(1), help="CPUs of the local Ray (default: all)")
    run.add_argument("--max-concurrent", type=_int_range(0, note=" (0: as many as the resources allow)"),
                     help="at most this many trials at once (0: no limit beyond the resources)")
    run.add_argument("--retries", type=_int_range(0), help="retries of a failed trial (default: the suite's, else 1)")
    run.add_argument("--retry-failed", action="store_true",
                     help="rerun trials stored as failed (default: they are kept, and the exit code is 1)")
    run.add_argument("--retry-diverged", action="store_true",
                     help="rerun trials stored as diverged (non-finite loss; default: stored once, not rerun)")
    run.add_argument("--checkpoints", metavar="DIR|URI",
                     help="where per-epoch checkpoints go (default <results>/checkpoints); on a cluster, a folder "
                          "every node mounts (NFS) or a URI such as s3://bucket/prefix lets a retried trial "
                          "resume on any node")
    run.add_argument("--keep-checkpoints", action="store_true",
                     help="keep each trial's checkpoint after its row is stored (default: removed, except "
                          "those other trials depend on)")
    run.add_argument("--verbose", action="store_true", help="forward the workers' logs to this terminal")

    val = sub.add_parser("validate", help="check a suite file without starting Ray", parents=[debug])
    suite_args(val)

    rep = sub.add_parser("report", help="tables and plots from the stored results", parents=[debug])
    rep.add_argument("--results", type=_non_empty, default="results", help="results directory (default ./results)")
    rep.add_argument("--suite", help="only this suite's rows")
    rep.add_argument("--out", type=_non_empty, default="reports", help="output directory (default ./reports)")
    rep.add_argument("--format", default="md,tex,csv,html", help="comma-separated: md,tex,csv,html")
    rep.add_argument("--jobs", type=int, help="processes drawing the figures, one backbone each (default: one "
                                              "per core when there are 3 or more backbones; 1: no workers)")

    ls = sub.add_parser("ls", help="list methods, datasets, backbones, protocols or suites", parents=[debug])
    ls.add_argument("what", choices=["methods", "datasets", "backbones", "protocols", "suites"])

    res = sub.add_parser("results", help="check or compact the results store", parents=[debug])
    res_sub = res.add_subparsers(dest="results_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser)
    for name, text in (("verify", "read every stored file; list the unreadable ones (exit 2 if any)"),
                       ("compact", "fold the store's many small files into one (safe while others read)")):
        sp = res_sub.add_parser(name, help=text, parents=[debug])
        sp.add_argument("--results", default="results", help="results directory (default ./results)")


    cache = sub.add_parser("cache", help="what the image and feature caches hold; remove unused entries",
                           parents=[debug])
    cache_sub = cache.add_subparsers(dest="cache_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser)
    cache_sub.add_parser("info", help="entries, sizes and last use per cache ($LORE_BENCH_CACHE)", parents=[debug])
    prune = cache_sub.add_parser("prune", help="remove entries not read for --unused-days days", parents=[debug])
    prune.add_argument("--unused-days", type=float, default=30.0, metavar="N",
                       help="remove entries not read for N days (default 30; 0 removes everything)")

    data = sub.add_parser("data", help="dataset tools", parents=[debug])
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser)
    doctor = data_sub.add_parser("doctor", help="which datasets are prepared, which are missing or broken, how to get them",
                                 parents=[debug])
    doctor.add_argument("name", nargs="?", help="one dataset (default: all)")
    doctor.add_argument("--root", type=_non_empty, help="data root (default $LORE_BENCH_DATA or ~/lore_bench_data)")
    doctor.add_argument("--deep", action="store_true",
                        help="decode every image (default: a sample of each split)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    parser.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except _ArgumentError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    debug = getattr(args, "debug", False)
    try:
        handler = {"run": _run, "validate": _validate, "report": _report, "ls": _ls, "data": _data,
                   "results": _results, "cache": _cache}[args.command]
        return handler(args)
    except (UserError, DataError) as err:
        if debug:
            traceback.print_exc()
        text = err.render() if isinstance(err, UserError) else _data_error_text(err)
        print(f"error: {text}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted; stored results are kept — rerun the same command to continue", file=sys.stderr)
        return 130
    except Exception as err:  # not the input: a bug; the traceback is what a report needs
        traceback.print_exc()
        print(f"\nlore-bench: internal error ({type(err).__name__}) — a bug in lore-bench, not in your input. "
              "Please report it with the command line and the traceback above.", file=sys.stderr)
        return EXIT_BUG


def _data_error_text(err: DataError, max_lines: int = 15) -> str:
    from .errors import strip_marker

    lines = strip_marker(err.message).splitlines()
    return "\n".join(lines[:max_lines] + (["..."] if len(lines) > max_lines else []))


def suite_path(name_or_path: str) -> Path:
    """A suite file path, or the name of a shipped suite (``table1_fewshot_vitb16``)."""
    from .suite.config import shipped_or_path

    return shipped_or_path(name_or_path)


def _load(args):
    from .suite.config import load_suite_tree
    from .suite.expand import apply_only, expand_all, expansion_notes, parse_only

    suites = load_suite_tree(suite_path(args.suite), args.overrides)
    specs = expand_all(suites)
    for suite in suites:
        for note in expansion_notes(suite):  # e.g. methods a protocol cannot score, skipped
            print(f"note: {note}", file=sys.stderr)
    if getattr(args, "only", None) is not None:
        specs = apply_only(specs, parse_only(args.only), args.only)
    return suites[0], specs


def _validate(args) -> int:
    suite, specs = _load(args)
    print(f"{args.suite}: ok — suite '{suite.name}', {len(specs)} trials "
          f"({len(suite.methods)} methods x {len(suite.datasets)} datasets x {len(suite.backbones)} backbones, "
          f"shots {suite.shots}, seeds {suite.seeds})"
          + (f", including {', '.join(Path(p).stem for p in suite.includes)}" if suite.includes else ""))
    return EXIT_OK


def _checkpoint_problem(location: str) -> str | None:
    """Why checkpoints cannot be written at ``location`` (None: they can)."""
    from .suite.engine.checkpoint import checkpoint_root

    try:
        checkpoint_root(location).check_writable()
    except OSError as err:
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    return None


def _run(args) -> int:
    from .suite.trial_table import trial_table

    suite, specs = _load(args)
    results = args.results or suite.results
    checkpoints = args.checkpoints or suite.ray.get("checkpoint_dir")
    if checkpoints and not args.dry_run and (problem := _checkpoint_problem(checkpoints)):
        print(f"error: --checkpoints / ray.checkpoint_dir '{checkpoints}': {problem}\n"
              "fix: give a writable folder (on a cluster: one every node mounts) or a filesystem URI "
              "pyarrow can open, e.g. s3://bucket/prefix (credentials from the usual AWS variables)", file=sys.stderr)
        return EXIT_USAGE  # before the results folder is created or Ray started
    _check_writable_dir(results, "--results" if args.results else f"{args.suite}: results", create=not args.dry_run)
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
        cpu_per_trial=res.get("cpu", 1), gpu_per_trial=res.get("gpu", 0), pack=res.get("pack", True),
        gpu_per_method=res.get("gpu_per_method") or {}, gpu_memory_gb=res.get("gpu_memory_gb"),
        max_concurrent=args.max_concurrent if args.max_concurrent is not None else res.get("max_concurrent", 0),
        retries=args.retries if args.retries is not None else res.get("retries", 1),
        log_to_driver=args.verbose,
        checkpoint_dir=args.checkpoints or ray_cfg.get("checkpoint_dir"),
        keep_checkpoints=args.keep_checkpoints or ray_cfg.get("keep_checkpoints", False),
        retry_failed=args.retry_failed, retry_diverged=args.retry_diverged,
    )
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
        if summary.ok + summary.diverged:
            print(summary.timeline.summary_line())
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
    from .plots.report import markdown_summary, report_columns
    from .results.store import ResultsStore

    df = ResultsStore(results).trials(columns=report_columns())
    if not df.empty:
        print(markdown_summary(df[df["suite"] == suite_name]))


def _report(args) -> int:
    from .plots.aggregate import ReportError
    from .plots.report import build_report, report_columns
    from .results.store import ResultsStore


    formats = _report_formats(args.format)
    if args.jobs is not None and args.jobs < 1:
        raise UserError("--jobs", f"must be 1 or more, not {args.jobs}", fix="e.g. --jobs 4, or --jobs 1 for no workers")
    df = ResultsStore(args.results).trials(columns=report_columns())  # read once, only what the report uses
    if df.empty:
        raise UserError("--results", f"no results in '{args.results}'",
                        fix="run a suite first (lore-bench run suite.yaml), or give --results the directory it wrote")
    if args.suite and args.suite not in set(df["suite"]):
        stored = sorted(set(df["suite"]))
        raise UserError("--suite", f"no rows of suite '{args.suite}' in {args.results}" + did_you_mean(args.suite, stored),
                        fix=f"stored suites: {', '.join(stored) or '(none)'}")
    _check_writable_dir(args.out, "--out", create=True, example="./reports")
    try:
        summary = build_report(args.results, args.out, formats=formats, suite=args.suite, raw=df, jobs=args.jobs)
    except ReportError as err:  # nothing to report: a message, not a traceback
        raise UserError("report", str(err)) from None
    print(summary.summary_markdown)
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
            print(f"{name:22s} {doc[0] if doc else ''}{note}")
    else:
        from .suite.config import SHIPPED_SUITES

        for path in sorted(SHIPPED_SUITES.glob("*.yaml")):
            print(f"{path.stem:28s} {path}")
        for path in sorted(Path.cwd().glob("suite*.yaml")):
            print(f"{'(this folder)':28s} {path}")
    return EXIT_OK


def _results(args) -> int:
    from .results.store import ResultsStore

    root = Path(args.results).expanduser()
    if not (root / "trials").is_dir():
        print(f"error: no results store at {root} (expected {root / 'trials'}/)", file=sys.stderr)
        return EXIT_USAGE
    return {"verify": _results_verify, "compact": _results_compact}[args.results_command](ResultsStore(root))


def _results_verify(store) -> int:
    report = store.verify()
    for directory, files, rows, trials in report["tables"]:
        print(f"{directory}: {files} files, {rows} rows, {trials} trials")
    for holder, info in store.holders().items():
        print(f"driver running trials: pid {info.get('pid')} on {info.get('host')} ({holder})")
    if report["temp"]:
        print(f"{len(report['temp'])} temp files of interrupted writes (ignored by readers, safe to delete)")
    if not report["bad"]:
        print("ok: every file reads")
        return EXIT_OK
    print(f"{len(report['bad'])} unreadable files, skipped by every reader (move them away or delete them; "
          "the trials they held rerun on the next `run`):", file=sys.stderr)
    for problem in report["bad"]:
        print(f"  {problem}", file=sys.stderr)
    return EXIT_USAGE


def _results_compact(store) -> int:
    from .results.locks import Busy

    try:
        folded = store.compact()
    except Busy:
        print(f"error: another compaction is running on {store.root}; try again when it ends", file=sys.stderr)
        return EXIT_FAILED
    for f in folded:
        print(f.line())
    bad = [p for f in folded for p in f.problems]
    if bad:
        print(f"left {len(bad)} unreadable files in place: lore-bench results verify --results {store.root}",
              file=sys.stderr)
    return EXIT_OK


def _data(args) -> int:
    from .benchmarks.doctor import doctor_all, format_reports

    if args.root and Path(args.root).expanduser().exists() and not Path(args.root).expanduser().is_dir():
        raise UserError("--root", f"'{args.root}' is a file, not a directory", fix="give the folder that holds the datasets")
    reports = doctor_all([args.name] if args.name else None, args.root, deep=args.deep)
    print(format_reports(reports, root=args.root))
    return EXIT_OK


def _report_formats(text: str) -> tuple[str, ...]:
    from .plots.report import FORMATS

    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    for f in formats:
        if f not in FORMATS:
            raise UserError("--format", f"unknown format '{f}'" + did_you_mean(f, FORMATS),
                            fix=f"choose from {', '.join(FORMATS)} (comma-separated)")
    if not formats:
        raise UserError("--format", "no format given", fix=f"choose from {', '.join(FORMATS)} (comma-separated)")
    return formats


def _cache(args) -> int:
    from . import caches

    base = caches.cache_base()
    if args.cache_command == "prune":
        if args.unused_days < 0:
            raise UserError("--unused-days", "must be 0 or more", fix="e.g. --unused-days 30")
        removed = caches.prune(args.unused_days)
        freed = caches.human_bytes(sum(e.bytes for e in removed))
        print(f"{base}: removed {len(removed)} entries not read for {args.unused_days:g} days ({freed})")
        return EXIT_OK
    found = caches.entries()
    print(f"{base}:" + ("" if found else " empty"))
    now = time.time()
    for kind in caches.KINDS:
        mine = [e for e in found if e.kind == kind]
        if mine:
            oldest = max(now - e.last_used for e in mine) / 86400
            print(f"  {kind}: {len(mine)} entries, {caches.human_bytes(sum(e.bytes for e in mine))}, "
                  f"oldest read {oldest:.1f} days ago")
    return EXIT_OK


def _check_writable_dir(path: str, flag: str, create: bool, example: str = "./results") -> None:
    """``path`` is, or can be made, a directory this process writes into. With
    ``create`` false (a dry run) any directory made for the check is removed."""
    import tempfile

    if "://" in str(path):  # the store locks and renames files: it needs a real folder
        raise UserError(flag, f"'{path}' is a URI; the results store is a folder on the driver's machine "
                        "(only the driver writes it, so a cluster needs no shared storage for results)",
                        fix=f"give a local folder, e.g. {example}, and copy it where you like afterwards "
                            "(checkpoints, which the workers write, do take a URI: --checkpoints s3://...)")
    target = Path(path).expanduser()
    made = []
    try:
        if target.exists() and not target.is_dir():
            raise NotADirectoryError(20, "it is a file, not a directory")
        for parent in reversed([target, *target.parents]):
            if not parent.exists():
                parent.mkdir()
                made.append(parent)
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as err:
        raise UserError(flag, f"cannot write into '{path}': {err.strerror or err}",
                        fix=f"choose a directory you can write, e.g. {example}") from None
    finally:
        if not create:
            for directory in reversed(made):
                directory.rmdir()


if __name__ == "__main__":
    sys.exit(main())
