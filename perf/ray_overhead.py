"""Ray overhead on the embedded default suite: wall time of `run` through Ray against the ideal (the trials'
own train + eval seconds divided by the workers), and the same trials run one after another in this process
without Ray, side by side in one run.

    python perf/ray_overhead.py                                   # 8 trials: coop, linear_probe on digits
    python perf/ray_overhead.py --only method=coop,lore,dataset=sklearn_digits --cpus 2

wall / ideal > 1 is everything that is not a trial's own training and evaluation: Ray's start, the workers'
imports and first backbone build, Tune's bookkeeping, idle gaps between trials, the driver's store writes.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def load_specs(suite_file: str, only: str, sets: list[str]):
    from lore_bench.suite.config import load_suite
    from lore_bench.suite.expand import apply_only, expand, parse_only

    suite = load_suite(suite_file, sets)
    return apply_only(expand(suite), parse_only(only), only)


def through_ray(specs, cpus: int) -> dict:
    from lore_bench.results.store import ResultsStore
    from lore_bench.suite.orchestrate import RunOptions, run_suite

    results = tempfile.mkdtemp(prefix="ray-overhead-")
    t0 = time.perf_counter()
    summary = run_suite(specs, RunOptions(results_dir=results, num_cpus=cpus, dashboard=False, retries=0),
                        printer=lambda line: None)
    wall = time.perf_counter() - t0
    df = ResultsStore(results).trials(columns=["train_seconds", "eval_seconds", "status"])
    own = float((df["train_seconds"].fillna(0) + df["eval_seconds"].fillna(0)).sum())
    workers = min(cpus, len(specs))
    return {"wall": wall, "own": own, "workers": workers, "ideal": own / workers, "ok": summary.ok,
            "ray_wall": summary.wall_seconds, "split": summary.timeline.summary_line()}


def in_process(specs) -> dict:
    from lore_bench import run_trial

    t0 = time.perf_counter()
    own = 0.0
    for spec in specs:
        row = run_trial(spec).rows[-1]
        own += (row.get("train_seconds") or 0) + (row.get("eval_seconds") or 0)
    return {"wall": time.perf_counter() - t0, "own": own}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default=os.path.join(ROOT, "suite.yaml"))
    p.add_argument("--only", default="method=coop,linear_probe,dataset=sklearn_digits,shots=1,4")
    p.add_argument("--set", action="append", default=[], help="suite overrides, as `run --set`")
    p.add_argument("--cpus", type=int, default=2, help="Ray's num_cpus (one trial per CPU)")
    p.add_argument("--no-serial", action="store_true", help="skip the in-process run without Ray")
    args = p.parse_args(argv)
    specs = load_specs(args.suite, args.only, args.set)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {len(specs)} trials ({args.only})",
          flush=True)
    ray = through_ray(specs, args.cpus)
    print(f"through Ray ({ray['workers']} workers): wall {ray['wall']:.1f}s; trials' own train+eval "
          f"{ray['own']:.1f}s; ideal {ray['ideal']:.1f}s; wall/ideal {ray['wall'] / ray['ideal']:.2f}", flush=True)
    print(f"  inside run_suite: {ray['split']}", flush=True)
    if not args.no_serial:
        serial = in_process(specs)
        print(f"in this process without Ray (1 worker): wall {serial['wall']:.1f}s; own {serial['own']:.1f}s; "
              f"wall/own {serial['wall'] / serial['own']:.2f}")
        print(f"Ray ({ray['workers']} workers) vs no Ray (1): {serial['wall'] / ray['wall']:.2f}x faster wall")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
