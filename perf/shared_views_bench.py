"""Shared augmented-view features: a small grid of frozen-tower methods (CoOp, ProGrad, CLIP-Adapter, CoCoOp)
on the same (dataset, shots, seed) with augmentation on, run with the view-feature cache (each epoch's views
encoded once between the methods) and without it (LORE_BENCH_FEATURE_CACHE=0: each trial encodes them), side
by side in one process.

    python perf/shared_views_bench.py                                  # micro-CLIP, sklearn_digits, 4 shots
    python perf/shared_views_bench.py --backbone clip_vit_b16_openai --dataset dtd --shots 16 --epochs 5
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def run_grid(methods, args) -> tuple[float, dict]:
    from lore_bench import run_trial
    from lore_bench.suite.engine import feature_cache
    from lore_bench.suite.grid import trial_spec

    feature_cache.clear_memory_cache()
    seconds = {}
    t0 = time.perf_counter()
    for m in methods:
        spec = trial_spec(m, args.dataset, args.backbone, args.shots, 1, suite="bench",
                          suite_training={"epochs": args.epochs, "augment": True, "batch_size": args.batch})
        t = time.perf_counter()
        run_trial(spec)
        seconds[m] = time.perf_counter() - t
    return time.perf_counter() - t0, seconds


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="coop,prograd,clip_adapter,cocoop")
    p.add_argument("--backbone", default="micro_clip")
    p.add_argument("--dataset", default="sklearn_digits")
    p.add_argument("--shots", type=int, default=4)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=8)
    args = p.parse_args(argv)
    methods = args.methods.split(",")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {methods} on {args.dataset}, "
          f"{args.shots} shots, {args.epochs} epochs, {args.backbone}", flush=True)
    os.environ["LORE_BENCH_CACHE"] = tempfile.mkdtemp(prefix="shared-views-")
    run_grid(methods[:1], args)  # warm-up: backbone, dataset, test features (both runs then share them)
    os.environ["LORE_BENCH_FEATURE_CACHE"] = "0"
    off, off_each = run_grid(methods, args)
    os.environ["LORE_BENCH_FEATURE_CACHE"] = "1"
    os.environ["LORE_BENCH_CACHE"] = tempfile.mkdtemp(prefix="shared-views-")
    on, on_each = run_grid(methods, args)
    for m in methods:
        print(f"  {m:14s} each trial encodes its views {off_each[m]:7.1f}s   shared {on_each[m]:7.1f}s")
    print(f"grid: {off:.1f}s without sharing, {on:.1f}s with: {off / on:.2f}x")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
