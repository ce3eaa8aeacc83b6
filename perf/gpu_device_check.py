"""The GPU speed set in one run (< 8 min on one H200): per-method training images/s and MFU, the loader's
CPU vs device path, the gain of packing several trials on one GPU, and the Table 1 suite's wall time on one
GPU projected from the measured per-trial times.

    python perf/gpu_device_check.py --out perf-out              # on a GPU machine: ViT-B/16, random weights
    python perf/gpu_device_check.py --smoke --out /tmp/smoke    # CPU, tiny sizes: checks the script works

Random-init ViT-B/16 and synthetic 224 px images: the arithmetic, not the values, sets the speed. MFU is
achieved FLOP/s (FLOPs of one training step counted by torch's FlopCounterMode, divided by the step time)
over the GPU's dense bf16 peak (H200: 989 TFLOPS, NVIDIA's H200 datasheet; other GPUs: --peak-tflops).
The projection assumes each trial trains at its method's measured images/s at the recipe batch size (100
classes: methods that encode every class prompt per step are slower on 1,000-class ImageNet) and evaluates
at the method's measured inference rate; dataset sizes are docs/datasets.md's. Writes results.json and
prints the tables docs/performance.md quotes.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

# (classes, test images) of the paper's datasets, from docs/datasets.md
DATASETS = {"flowers102": (102, 2463), "stanford_cars": (196, 8041), "fgvc_aircraft": (100, 3333),
            "stanford_dogs": (120, 8580), "cifar10": (10, 10000), "cifar100": (100, 10000), "dtd": (47, 1880),
            "imagenet": (1000, 50000), "eurosat": (10, 8100), "resisc45": (45, 25200), "ucf101": (101, 3783),
            "patternnet": (38, 6080)}
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0}  # dense bf16, vendor datasheets


def log(*parts) -> None:
    print(*parts, flush=True)


def _backbone(args, device):
    from lore_bench.backbones import build_backbone

    cfg = ({"type": "open_clip", "arch": "micro-clip", "pretrained": None} if args.smoke
           else {"type": "open_clip", "arch": "ViT-B-16", "pretrained": None})
    torch.manual_seed(0)
    return build_backbone(cfg).to(device)


def _task(classes: int):
    from lore_bench.methods import TaskInfo

    return TaskInfo("benchmark", tuple(f"object {i}" for i in range(classes)), shots=16)


def train_flops_per_image(name: str, backbone, task, batch: int, device) -> float | None:
    """FLOPs of one training step (forward + backward) per image, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    from lore_bench.methods import METHODS
    from lore_bench.methods.base import build_config

    cls = METHODS.get(name)
    method = cls(build_config(cls.Config, cls.default_config(task.dataset, 16), name), backbone, task).to(device)
    params = list(method.trainable_parameters())
    if not params or cls.default_training(task.dataset, 16).get("epochs", 1) == 0:
        return None
    size = backbone.info.image_size
    batch_d = {"images": torch.randn(batch, 3, size, size, device=device),
               "labels": torch.arange(batch, device=device) % task.num_classes,
               "index": torch.arange(batch, device=device)}
    method.train()
    autocast = torch.autocast("cuda", torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    counter = FlopCounterMode(display=False)
    with counter, autocast:
        out = method.training_step(batch_d)
        if not cls.manual_backward:
            out["loss"].backward()
    return counter.get_total_flops() / batch


def method_table(args, device) -> dict:
    from methods_throughput import measure

    from lore_bench.methods import METHODS

    backbone = _backbone(args, device)
    task = _task(args.classes)
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items()
                                     if device.type == "cuda" and k in torch.cuda.get_device_name(0)), None)
    names = args.methods.split(",") if args.methods else METHODS.names()
    out = {}
    for name in names:
        t0 = time.perf_counter()
        r = measure(name, backbone, task, args, device)
        cls = METHODS.get(name)
        bs = cls.default_training(task.dataset, 16).get("batch_size", 32)
        r["recipe_batch"] = bs
        r["train_img_s"] = r.get(f"train_img_s@bs{bs}")
        flops = train_flops_per_image(name, backbone, task, min(bs, 8) if args.smoke else bs, device)
        r["train_gflop_per_image"] = round(flops / 1e9, 2) if flops else None
        r["mfu_pct"] = (round(100 * r["train_img_s"] * flops / (peak * 1e12), 1)
                        if flops and r["train_img_s"] and peak else None)
        r["seconds"] = round(time.perf_counter() - t0, 1)
        out[name] = r
        mfu = "n/a" if r["mfu_pct"] is None else f"{r['mfu_pct']}%"
        log(f"{name:14s} train {r['train_img_s'] or 0:9.1f} img/s @bs{bs:<4d} MFU {mfu:>6s}"
            f"  eval {r['eval_img_s']:9.1f} img/s  peak {r.get('train_peak_mem_gb', 'n/a')} GB  ({r['seconds']}s)")
    return out


def loader_table(args) -> list[dict]:
    from loader_bench import measure

    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    rows = measure(32 if args.smoke else 1024, 8 if args.smoke else 128, 1 if args.smoke else 2, devices, None)
    for r in rows:
        log(f"loader {r['path']:44s} {r['images_per_s']:10.0f} images/s  {r['images_per_s'] / rows[0]['images_per_s']:6.2f}x")
    return rows


def packing_worker(args) -> None:
    """One packed 'trial': CoOp training steps for --seconds; prints images/s as JSON."""
    from lore_bench.methods import METHODS
    from lore_bench.methods.base import build_config

    device = torch.device(args.device)
    backbone = _backbone(args, device)
    task = _task(args.classes)
    cls = METHODS.get(args.pack_method)
    method = cls(build_config(cls.Config, cls.default_config(task.dataset, 16), args.pack_method), backbone,
                 task).to(device)
    bs = 4 if args.smoke else cls.default_training(task.dataset, 16).get("batch_size", 32)
    size = backbone.info.image_size
    batch = {"images": torch.randn(bs, 3, size, size, device=device),
             "labels": torch.arange(bs, device=device) % task.num_classes, "index": torch.arange(bs, device=device)}
    opt = torch.optim.SGD(list(method.trainable_parameters()), lr=1e-3)
    autocast = torch.autocast("cuda", torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = method.training_step(batch)["loss"]
        loss.backward()
        opt.step()

    step()
    sync()
    # start together: wait for the go file the parent writes once every worker is ready
    open(f"{args.go}.ready.{os.getpid()}", "w").close()
    while not os.path.exists(args.go):
        time.sleep(0.05)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        step()
        n += bs
    sync()
    print(json.dumps({"images_per_s": n / (time.perf_counter() - t0)}), flush=True)


def packed_rate(args, k: int, device: str) -> float:
    go = os.path.join(args.out, f"go-{k}")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--go", go, "--device", device,
           "--seconds", str(args.pack_seconds), "--classes", str(args.classes), "--pack-method", args.pack_method,
           "--out", args.out] + (["--smoke"] if args.smoke else [])
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(k)]
    deadline = time.time() + 300
    while len([f for f in os.listdir(args.out) if f.startswith(f"go-{k}.ready.")]) < k:
        if time.time() > deadline or any(p.poll() not in (None, 0) for p in procs):
            for p in procs:
                p.kill()
            raise RuntimeError("packing workers did not start")
        time.sleep(0.1)
    open(go, "w").close()
    rates = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1])["images_per_s"] for p in procs]
    return sum(rates)


def packing_table(args, peak_gb: float | None) -> dict:
    from lore_bench.suite.packing import trials_per_gpu

    device = "cuda" if torch.cuda.is_available() else "cpu"
    gpu_gb = torch.cuda.get_device_properties(0).total_memory / 2**30 if device == "cuda" else None
    k_fit = trials_per_gpu(peak_gb, gpu_gb) if peak_gb and gpu_gb else 2
    k = max(2, min(args.pack_max, k_fit))
    one = packed_rate(args, 1, device)
    many = packed_rate(args, k, device)
    out = {"method": args.pack_method, "trials": k, "fit_by_memory": k_fit, "one_img_s": one, "packed_img_s": many,
           "gain": many / one}
    log(f"packing {args.pack_method}: 1 trial {one:.0f} img/s; {k} trials on one device {many:.0f} img/s "
        f"together: {out['gain']:.2f}x (memory fits {k_fit})")
    return out


def projection(methods: dict, gain: dict | None, args) -> dict:
    """Table 1 on one GPU: the sum of per-trial times (train + eval), one trial at a time and packed."""
    from lore_bench.suite.config import load_suite
    from lore_bench.suite.engine.fit import seen_per_epoch
    from lore_bench.suite.expand import expand
    from lore_bench.suite.packing import trials_per_gpu
    from lore_bench.suite.training import TrainingConfig

    suite_file = os.path.join(HERE, "..", "lore_bench", "suites", "table1_fewshot_vitb16.yaml")
    specs = expand(load_suite(suite_file))
    per_method: dict[str, float] = {}
    missing = set()
    for spec in specs:
        r = methods.get(spec.method)
        classes, test = DATASETS[spec.dataset]
        if r is None:
            missing.add(spec.method)
            continue
        cfg = TrainingConfig(**{k: v for k, v in spec.training.items() if k in TrainingConfig.field_names()})
        train_images = seen_per_epoch(spec.shots * classes, cfg) * cfg.epochs if spec.shots else 0
        seconds = test / r["eval_img_s"]
        if train_images and r.get("train_img_s"):
            seconds += train_images / r["train_img_s"]
        elif spec.shots:  # closed-form fits (linear probe): features of the training images
            seconds += spec.shots * classes / r["eval_img_s"]
        per_method[spec.method] = per_method.get(spec.method, 0.0) + seconds
    serial = sum(per_method.values())
    gpu_gb = torch.cuda.get_device_properties(0).total_memory / 2**30 if torch.cuda.is_available() else None
    packed = 0.0
    for m, s in per_method.items():
        peak = methods[m].get("train_peak_mem_gb")
        fits = trials_per_gpu(peak, gpu_gb) if peak and gpu_gb else 1
        speedup = max(1.0, min(gain["gain"], fits)) if gain and fits >= 2 else 1.0  # packed only where it pays
        packed += s / speedup
    out = {"trials": len(specs), "serial_hours": serial / 3600, "packed_hours": packed / 3600,
           "per_method_hours": {m: round(s / 3600, 3) for m, s in per_method.items()},
           "methods_not_measured": sorted(missing)}
    log(f"Table 1 ({len(specs)} trials) projected on one device: {out['serial_hours']:.2f} h one trial at a time, "
        f"{out['packed_hours']:.2f} h packed" + (f"; not measured: {', '.join(sorted(missing))}" if missing else ""))
    for m, h in sorted(out["per_method_hours"].items(), key=lambda kv: -kv[1]):
        log(f"   {m:14s} {h:8.3f} h")
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="CPU, micro-CLIP, tiny sizes: does the script work")
    p.add_argument("--out", default="perf-out")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--methods", help="comma-separated (default: every registered method)")
    p.add_argument("--iters", type=int, default=None)
    p.add_argument("--eval-batch", type=int, default=None)
    p.add_argument("--peak-tflops", type=float)
    p.add_argument("--pack-method", default="coop")
    p.add_argument("--pack-max", type=int, default=4)
    p.add_argument("--pack-seconds", type=float, default=None)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--go", help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=3.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke:
        args.classes = min(args.classes, 10)
        args.methods = args.methods or "coop,linear_probe,lore,zeroshot_clip"
    args.iters = args.iters or (1 if args.smoke else 7)
    args.eval_batch = args.eval_batch or (8 if args.smoke else 512)
    args.pack_seconds = args.pack_seconds or (2.0 if args.smoke else 20.0)
    os.makedirs(args.out, exist_ok=True)
    if args.worker:
        packing_worker(args)
        return {}
    device = torch.device(args.device)
    t0 = time.perf_counter()
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)"
    log(f"{name}; load average {os.getloadavg()[0]:.2f}; torch {torch.__version__}")
    results = {"device": name, "smoke": args.smoke}
    results["methods"] = method_table(args, device)
    results["loader"] = loader_table(args)
    peak = results["methods"].get(args.pack_method, {}).get("train_peak_mem_gb")
    results["packing"] = packing_table(args, peak)
    results["projection"] = projection(results["methods"], results["packing"], args)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(results, fh, indent=1, default=str)
    log(f"done in {results['seconds']}s; wrote {os.path.join(args.out, 'results.json')}")
    return results


if __name__ == "__main__":
    main()
