"""`lore-bench report` and `run --dry-run` at 1k/10k/100k stored trials, and the suite expansion's trial ids,
measured side by side in one run.

    python perf/report_bench.py                         # 1k and 100k trials (~3-6 min on a loaded 2-core box)
    python perf/report_bench.py --sizes 1000,10000,100000

Stores are built as perf/store_bench.py builds them (rows of real shape, one compacted file, as `run` and
`compact` leave a store). Per size it prints: the report's read of only the columns its tables and plots
declare against a read of every column (what a third-party table without `columns` costs); the tables;
the figures (matplotlib: the same few lines and points at any store size); the whole `report` command; and
`run --dry-run` of the paper's Table 1 suite against that store. Expansion: the Table 1 suite expanded with
the cached `TrialSpec.trial_id` against the former property (a hash of a deep copy on every access).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import store_bench  # noqa: E402

from lore_bench.cli import main as cli_main  # noqa: E402
from lore_bench.plots.aggregate import normalise, ok_rows  # noqa: E402
from lore_bench.plots.figures import PLOTS, method_colors  # noqa: E402
from lore_bench.plots.report import report_columns  # noqa: E402
from lore_bench.plots.tables import build_tables  # noqa: E402
from lore_bench.results.store import ResultsStore  # noqa: E402
from lore_bench.suite.spec import TrialSpec, canonical_json  # noqa: E402

TABLE1 = os.path.join(HERE, "..", "lore_bench", "suites", "table1_fewshot_vitb16.yaml")


CPU: dict[str, float] = {}  # CPU seconds of the last timed call: under a shared machine's load, wall time
#                             grows with other jobs, this process's CPU time much less


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    CPU["last"] = time.process_time() - c0
    return time.perf_counter() - t0, out


def quiet(fn):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


def measure_store(root: str, out: str) -> dict:
    store = ResultsStore(root)
    t_all, _ = timed(lambda: store.trials())
    t_cols, raw = timed(lambda: store.trials(columns=report_columns()))
    rows = normalise(raw).drop(columns="spec_json")
    ok = ok_rows(rows)
    t_tables, _ = timed(lambda: build_tables(rows, ok))
    colors = method_colors(rows["method"])

    t_figs, _ = timed(lambda: [plot(ok, b, colors, Path(out) / "fig" / n) for b in sorted(rows["backbone"].unique())
                               for n, plot in PLOTS.items()])
    t_report, code = timed(lambda: quiet(lambda: cli_main(["report", "--results", root, "--out", out])))
    assert code == 0
    cpu_report = CPU["last"]
    t_dry, code = timed(lambda: quiet(lambda: cli_main(["run", TABLE1, "--results", root, "--dry-run"])))
    assert code == 0
    return {"read_all": t_all, "read_cols": t_cols, "tables": t_tables, "figures": t_figs, "report": t_report,
            "dry_run": t_dry, "report_cpu": cpu_report, "dry_run_cpu": CPU["last"]}


def former_trial_id(spec: TrialSpec) -> str:
    d = asdict(spec)
    for key in spec.NON_RESULT_FIELDS:
        d.pop(key)
    for key in spec.OPTIONAL_FIELDS:
        if d[key] is None:
            d.pop(key)
    return hashlib.sha256(canonical_json(d).encode()).hexdigest()[:16]


def expansion() -> None:
    from lore_bench.suite.config import load_suite
    from lore_bench.suite.expand import expand
    from lore_bench.suite.plan import with_dependencies

    suite = load_suite(TABLE1)
    t_expand, specs = timed(lambda: with_dependencies(expand(suite)))
    uses = 5  # the plan, the claims, the dry-run table, the driver and Tune each ask for a spec's id
    t_cached, _ = timed(lambda: [s.trial_id for s in specs for _ in range(uses)])
    t_former, _ = timed(lambda: [former_trial_id(s) for s in specs for _ in range(uses)])
    print(f"expansion of Table 1: {len(specs)} specs in {t_expand:.2f}s; {uses} trial_id uses per spec: "
          f"former {t_former:.3f}s, cached {t_cached:.4f}s ({t_former / max(t_cached, 1e-6):.0f}x)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000,100000")
    p.add_argument("--layout", choices=["cells", "mixed"], default="cells",
                   help="cells: <= 3 seeds per (backbone, shots, method, dataset) cell, per-image correctness of "
                        "real test sizes, as suites leave a store; mixed: session 1's store, ~n/540 rows per cell "
                        "(store_bench.mixed_fields)")
    p.add_argument("--main-trials", type=int,
                   help="cells layout: only the first N trials are test-split results (N / 1,620 backbones' "
                        "grids), the rest tuned search trials of the same cells, so sizes differ only in rows "
                        "read; default: every trial a result (a new backbone every 1,620)")
    p.add_argument("--keep", help="build the stores under this folder and keep them")
    args = p.parse_args(argv)
    base = args.keep or tempfile.mkdtemp(prefix="report-bench-")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; stores under {base}", flush=True)
    expansion()
    print(f"{'trials':>8s} | {'read all':>8s} {'declared':>8s} {'ratio':>6s} | {'tables':>7s} {'figures':>7s} | "
          f"{'report':>7s} {'dry-run':>7s} | CPU s: {'report':>7s} {'dry-run':>7s}   (seconds)", flush=True)
    try:
        for n in [int(x) for x in args.sizes.split(",")]:
            root = os.path.join(base, f"store-{args.layout}-{args.main_trials or 'all'}-{n}")
            if not os.path.isdir(os.path.join(root, "trials")):
                store_bench.build(root, n, 1000, layout=args.layout, main_trials=args.main_trials)
                ResultsStore(root).compact()
            r = measure_store(root, os.path.join(base, f"report-{n}"))
            print(f"{n:8d} | {r['read_all']:8.2f} {r['read_cols']:8.2f} {r['read_all'] / r['read_cols']:5.1f}x | "
                  f"{r['tables']:7.2f} {r['figures']:7.2f} | {r['report']:7.2f} {r['dry_run']:7.2f} |        "
                  f"{r['report_cpu']:7.2f} {r['dry_run_cpu']:7.2f}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
