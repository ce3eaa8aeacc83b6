"""LORE paper, Table 7 shape: inference cost on a CLIP ViT-B/16 image tower.

For zero-shot CLIP (plain ``encode_image``), VPT-deep with 8 tokens per layer
and LORE (LIN + PG + shared/generated prompts; KLA is training-only), all in
one process on the same inputs: trainable parameters and their share of all
parameters (frozen CLIP, image + text tower, plus the trainable ones — the
paper's "5.7%"), GFLOPs per image (``torch.utils.flop_counter``; one
multiply-add = 2 FLOPs) and images/s. ``--train`` adds training images/s
(forward, backward, SGD step) for the two trained methods.

Weights do not change the cost, so ``pretrained`` defaults to none (random
ViT-B/16, nothing downloaded). Example:

    python perf/lore_table7.py --device cpu --batch-size 4 --iters 2
    python perf/lore_table7.py --device cuda --batch-size 64 --iters 20 --precision bf16 --train
"""
from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

import torch

from lore_bench.suite.engine.flops import gflops_per_image
from torch import nn

from lore_bench.backbones import build_backbone
from lore_bench.methods import METHODS, TaskInfo
from lore_bench.methods._prompting import cosine_logits, template_classifier
from lore_bench.methods.base import build_config


class ZeroShot(nn.Module):
    def __init__(self, backbone, task):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("classifier", template_classifier(backbone.text, task.template, task.classnames))

    def forward(self, images):
        return cosine_logits(self.backbone.encode_image(images), self.classifier, self.backbone.logit_scale)


class DeepPrompts(nn.Module):
    """VPT-deep stand-in when the ``vpt`` method is not registered: 8 learned tokens per layer."""

    def __init__(self, backbone, task, tokens=8):
        super().__init__()
        self.backbone = backbone
        info = backbone.info
        self.prompts = nn.Parameter(torch.randn(info.num_layers, tokens, info.width) * 0.02)
        self.register_buffer("classifier", template_classifier(backbone.text, task.template, task.classnames))

    def forward(self, images):
        feats = self.backbone.forward_prompted(images, list(self.prompts.unbind(0)))
        return cosine_logits(feats, self.classifier, self.backbone.logit_scale)


def build_methods(backbone, task):
    methods = {"zero-shot CLIP": ZeroShot(backbone, task)}
    if "vpt" in METHODS:
        vpt = METHODS.get("vpt")
        methods["VPT-deep (8 tokens)"] = vpt(build_config(vpt.Config, {"num_tokens": 8, "deep": True}, "vpt"),
                                            backbone, task)
    else:
        methods["VPT-deep (8 tokens)*"] = DeepPrompts(backbone, task)
    lore = METHODS.get("lore")
    methods["LORE"] = lore(build_config(lore.Config, {}, "lore"), backbone, task)
    return methods


def trainable(module: nn.Module) -> int:
    return sum(p.numel() for n, p in module.named_parameters() if p.requires_grad and not n.startswith("backbone."))


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def inference_images_per_s(model, images, iters, warmup, device, precision) -> float:
    with autocast(device, precision):
        for _ in range(warmup):
            model(images)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(iters):
            model(images)
        sync(device)
    return iters * len(images) / (time.perf_counter() - t0)


def training_images_per_s(model, images, labels, iters, warmup, device, precision) -> float:
    params = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("backbone.")]
    opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9)
    batch = {"images": images, "labels": labels, "index": torch.arange(len(labels), device=device)}
    if hasattr(model, "set_confusing_labels"):  # LORE: precomputed in prepare() in a real run
        model.set_confusing_labels(torch.roll(labels, 1))
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast(device, precision):
            loss = model.training_step(batch)["loss"]
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    sync(device)
    model.eval()
    return iters * len(images) / (time.perf_counter() - t0)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--iters", type=int, default=10, help="timed iterations (use 1-3 on a CPU)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    ap.add_argument("--classes", type=int, default=100, help="classes of the head / text classifier")
    ap.add_argument("--arch", default="ViT-B-16")
    ap.add_argument("--pretrained", default=None, help="open_clip tag; weights do not change the cost")
    ap.add_argument("--train", action="store_true", help="also measure training images/s")
    args = ap.parse_args(argv)

    device = torch.device(args.device)
    torch.manual_seed(0)
    backbone = build_backbone({"type": "open_clip", "arch": args.arch, "pretrained": args.pretrained}).to(device)
    task = TaskInfo("table7", tuple(f"class {i}" for i in range(args.classes)))
    methods = {k: m.to(device).eval() for k, m in build_methods(backbone, task).items()}
    frozen = sum(p.numel() for p in backbone.parameters())
    size = backbone.info.image_size
    images = torch.randn(args.batch_size, 3, size, size, device=device)
    labels = torch.arange(args.batch_size, device=device) % args.classes

    print(f"# {args.arch} ({args.pretrained or 'random weights'}), {size} px, {args.classes} classes, "
          f"device {device}, batch {args.batch_size}, {args.iters} timed iters, {args.precision}; "
          f"torch threads {torch.get_num_threads()}")
    print(f"# frozen CLIP parameters (image + text tower): {frozen / 1e6:.2f}M")
    cols = "| method | trainable params | % of total | GFLOPs / image | images/s |"
    sep = "|---|---:|---:|---:|---:|"
    if args.train:
        cols, sep = cols + " train images/s |", sep + "---:|"
    print(cols)
    print(sep)
    for name, model in methods.items():
        n = trainable(model)
        flops = gflops_per_image(model, images)
        ips = inference_images_per_s(model, images, args.iters, args.warmup, device, args.precision)
        row = f"| {name} | {n / 1e6:.3f}M | {100 * n / (frozen + n):.2f}% | {flops:.1f} | {ips:.1f} |"
        if args.train:
            row += (" - |" if n == 0 else
                    f" {training_images_per_s(model, images, labels, args.iters, args.warmup, device, args.precision):.1f} |")
        print(row, flush=True)
    if any(k.endswith("*") for k in methods):
        print("* the 'vpt' method is not registered here: forward_prompted with 8 learned tokens per layer")


if __name__ == "__main__":
    main()
