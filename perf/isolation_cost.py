"""What trial isolation costs per trial, measured in one run.

    python perf/isolation_cost.py [--backbones micro_clip,vit_b16_random] [--repeats 5] [--device cpu]

For each backbone: the check every trial pays after it ends (fingerprint of
the cached tower compared with the one taken at build), the one-time
fingerprint at build, and the private deep copy a ``trains_backbone`` method
gets. ``vit_b16_random`` is open_clip ViT-B-16 with ``pretrained: null`` (the
size of the paper's backbone, no download).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHORTHANDS = {"vit_b16_random": {"type": "open_clip", "arch": "ViT-B-16", "pretrained": None}}


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbones", default="micro_clip,vit_b16_random")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()

    import torch

    from lore_bench.backbones import build_backbone, changes_since_build
    from lore_bench.backbones.fingerprint import fingerprint
    from lore_bench.suite.engine.context import private_backbone

    device = torch.device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, median of {args.repeats}")
    for name in args.backbones.split(","):
        backbone = build_backbone(SHORTHANDS.get(name, name)).to(device)
        params = sum(p.numel() for p in backbone.parameters()) / 1e6

        def sync():
            if device.type == "cuda":
                torch.cuda.synchronize(device)

        check = timed(lambda: (changes_since_build(backbone), sync()), args.repeats)
        build = timed(lambda: fingerprint(backbone), args.repeats)
        copy_s = timed(lambda: (private_backbone(backbone), sync()), max(1, args.repeats // 2))
        print(f"{name}: {params:.1f}M params | per-trial check {check:.3f} s | fingerprint at build {build:.3f} s"
              f" | private copy (trains_backbone only) {copy_s:.3f} s")


if __name__ == "__main__":
    main()
