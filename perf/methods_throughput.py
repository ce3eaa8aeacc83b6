"""Training-step and evaluation throughput of every registered method on one
backbone, measured in one run (issue: images/s per method on ViT-B-16, 224 px, bf16).

    python perf/methods_throughput.py --device cuda            # ViT-B-16, random weights
    python perf/methods_throughput.py --device cpu --backbone micro_clip --eval-batch 64

Random weights are enough for speed: the arithmetic does not depend on the values.
Each method trains at its published batch size (and 32), with autocast bf16 on GPU.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from lore_bench.backbones import build_backbone
from lore_bench.methods import METHODS, PrepareContext, TaskInfo
from lore_bench.methods.base import build_config


def timed(fn, iters: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / iters


def measure(name: str, backbone, task: TaskInfo, args, device) -> dict:
    cls = METHODS.get(name)
    method = cls(build_config(cls.Config, cls.default_config(task.dataset, 16), name), backbone, task).to(device)
    size = backbone.info.image_size
    autocast = torch.autocast("cuda", torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    images = torch.randn(2 * task.num_classes, 3, size, size, device=device)
    labels = torch.arange(task.num_classes, device=device).repeat(2)

    def features():
        with torch.no_grad(), autocast:
            return backbone.encode_image(images).float()

    def batches():
        yield {"images": images, "labels": labels, "index": torch.arange(len(labels), device=device)}

    t0 = time.perf_counter()
    method.prepare(PrepareContext(device, labels, "main", batches, features))
    result = {"trainable": method.num_trainable(), "prepare_s": round(time.perf_counter() - t0, 2)}
    budget = cls.default_training(task.dataset, 16)
    params = list(method.trainable_parameters())
    if params and budget.get("epochs", 1) > 0:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        for bs in sorted({budget.get("batch_size", 32), 32}):
            opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
            batch = {"images": torch.randn(bs, 3, size, size, device=device),
                     "labels": torch.arange(bs, device=device) % task.num_classes,
                     "index": torch.arange(bs, device=device) % len(labels)}

            def step():
                method.train()
                opt.zero_grad(set_to_none=True)
                with autocast:
                    out = method.training_step(batch)
                if not cls.manual_backward:
                    out["loss"].backward()
                opt.step()

            result[f"train_img_s@bs{bs}"] = round(bs / timed(step, args.iters, 2, device), 1)
        if device.type == "cuda":
            result["train_peak_mem_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    method.eval()
    x = torch.randn(args.eval_batch, 3, size, size, device=device)

    def evaluate():
        with torch.no_grad(), autocast:
            return method(x)

    result["eval_img_s"] = round(args.eval_batch / timed(evaluate, args.iters, 1, device), 1)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--backbone", default=None, help="named backbone (default: open_clip ViT-B-16, random weights)")
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--eval-batch", type=int, default=256)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--methods", default=",".join(n for n in METHODS.names()))
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    backbone = build_backbone(args.backbone or {"type": "open_clip", "arch": "ViT-B-16", "pretrained": None}).to(device)
    task = TaskInfo("benchmark", tuple(f"object {i}" for i in range(args.classes)), shots=16)
    print(f"{backbone.name} on {torch.cuda.get_device_name(0) if device.type == 'cuda' else 'cpu'}")
    results = {}
    for name in args.methods.split(","):
        results[name] = measure(name, backbone, task, args, device)
        print(f"{name:14s} {json.dumps(results[name])}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
