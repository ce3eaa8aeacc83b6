"""Loader throughput: augmented 224 px training views per second, the CPU path (torchvision per image on the
trial's thread, `training.data_path: cpu`) against the device path (`data_path: device`, engine/device_data.py),
measured side by side in one run on the same uint8 images (what the image cache holds).

    python perf/loader_bench.py                 # CPU (and CUDA when present), 512 images, batch 32
    python perf/loader_bench.py --images 2048 --batch 128 --device cuda

The device path's time includes moving the images to the device once (per stage, as a trial does) and, on
CUDA, a synchronize per batch (the view is ready when timed).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lore_bench.backbones.base import ImageTowerInfo  # noqa: E402
from lore_bench.benchmarks.base import array_split  # noqa: E402
from lore_bench.suite.engine.data import build_transform, loader  # noqa: E402
from lore_bench.suite.engine.device_data import device_views  # noqa: E402

INFO = ImageTowerInfo(image_size=224, patch_size=16, grid=(14, 14), width=768, num_layers=12, feature_dim=512,
                      num_prefix_tokens=1, mean=(0.48145466, 0.4578275, 0.40821073),
                      std=(0.26862954, 0.26130258, 0.27577711))  # ViT-B/16 (open_clip's OpenAI preprocessing)


def cpu_path(split, batch: int, epochs: int) -> float:
    tf = build_transform(INFO, train_augment=True)
    n, t0 = 0, time.perf_counter()
    for epoch in range(epochs):
        for b in loader(split, tf, batch, True, seed=1, epoch=epoch):
            n += len(b["labels"])
    return n / (time.perf_counter() - t0)


def device_path(split, labels, batch: int, epochs: int, device: torch.device) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    n, t0 = 0, time.perf_counter()
    views = device_views(split, labels, INFO, device)
    assert views is not None
    for epoch in range(epochs):
        for b in views.batches(batch, epoch, 100_003 + epoch):
            sync()
            n += len(b["labels"])
    return n / (time.perf_counter() - t0)


def measure(images: int, batch: int, epochs: int, devices: list[str], threads: int | None) -> list[dict]:
    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (images, 224, 224, 3), dtype=np.uint8)
    split = array_split("bench", pixels, np.arange(images) % 10)
    labels = torch.as_tensor(split.labels)
    out = [{"path": "cpu (torchvision, 1 thread of the trial)", "device": "cpu",
            "images_per_s": cpu_path(split, batch, epochs)}]
    for name in devices:
        dev = torch.device(name)
        device_path(split, labels, batch, 1, dev)  # warm-up (kernels, allocator)
        out.append({"path": f"device ({name})", "device": name,
                    "images_per_s": device_path(split, labels, batch, epochs, dev)})
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--device", action="append", help="cpu, cuda (default: cpu, and cuda when present)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = p.parse_args(argv)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; torch threads {torch.get_num_threads()}; "
          f"{args.images} images 224 px, batch {args.batch}, {args.epochs} epochs")
    rows = measure(args.images, args.batch, args.epochs, devices, args.threads)
    base = rows[0]["images_per_s"]
    for r in rows:
        print(f"{r['path']:44s} {r['images_per_s']:10.0f} images/s   {r['images_per_s'] / base:6.2f}x the CPU path")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
