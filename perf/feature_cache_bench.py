"""Feature-cache benchmark: the same trials evaluated with and without the
frozen-feature cache, measured in one run, ratio printed.

    python perf/feature_cache_bench.py [--backbone micro_clip] [--dataset mnist]
        [--methods zeroshot_clip,linear_probe,coop,clip_adapter] [--seeds 3] [--shots 4]

Every listed method keeps its image tower frozen and untouched, so with the cache
the test split is encoded once for all trials (and training shots once per
sample) instead of once per trial. Accuracy must be identical: checked here too.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run_all(specs) -> tuple[float, list[float]]:
    from lore_bench import run_trial

    t0 = time.perf_counter()
    top1 = [run_trial(s).rows[0]["top1"] for s in specs]
    return time.perf_counter() - t0, top1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="micro_clip")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--methods", default="zeroshot_clip,linear_probe,coop,clip_adapter")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--shots", type=int, default=4)
    p.add_argument("--epochs", type=int, default=5)
    args = p.parse_args()

    from lore_bench.suite.grid import trial_spec  # the same resolution as a suite
    from lore_bench.backbones import build_backbone
    from lore_bench.suite.engine import feature_cache
    from lore_bench.suite.engine.context import load_splits

    specs = [trial_spec(m, args.dataset, args.backbone, args.shots, seed,
                        suite_training={"epochs": args.epochs, "augment": False})
             for m in args.methods.split(",") for seed in range(1, args.seeds + 1)]
    build_backbone(args.backbone)  # both runs start with the model and data loaded
    load_splits(args.dataset, None)

    os.environ["LORE_BENCH_FEATURE_CACHE"] = "0"
    off_s, off_top1 = run_all(specs)
    os.environ["LORE_BENCH_FEATURE_CACHE"] = "1"
    os.environ["LORE_BENCH_CACHE"] = tempfile.mkdtemp(prefix="lb-featbench-")  # a cold cache
    feature_cache.clear_memory_cache()
    on_s, on_top1 = run_all(specs)

    print(f"{len(specs)} trials ({args.methods} x {args.seeds} seeds, {args.shots} shots, {args.dataset}, "
          f"{args.backbone}, {args.epochs} epochs)")
    print(f"without cache: {off_s:7.2f} s")
    print(f"with cache:    {on_s:7.2f} s  (cold start, includes building it)")
    print(f"speed-up:      {off_s / on_s:7.2f}x")
    print(f"identical accuracy: {off_top1 == on_top1}")
    if off_top1 != on_top1:
        sys.exit(1)


if __name__ == "__main__":
    main()
