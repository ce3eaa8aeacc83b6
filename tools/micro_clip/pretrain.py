"""Pretrain micro-CLIP contrastively on generated captioned images.

    python -m tools.micro_clip.pretrain [--minutes 22] [--steps 1800] [--device cuda] [--out PATH]

One readable loop: generated batches (a data-loader worker makes them while the
model trains), open_clip's ClipLoss, AdamW, warmup + cosine. The schedule runs
on ``max(step / steps, elapsed / minutes)``, so it anneals fully whichever limit
comes first; on a fast enough machine the step limit binds and the run is
reproducible step for step. Writes fp16 safetensors with a trimmed token table
and a JSON record next to it.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from torch import nn

from lore_bench.backbones.micro_clip import ARCH, HERE, PRETRAINED, register_config, trim_token_embedding
from . import synthetic, zeroshot

MEAN = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)  # open_clip's OpenAI mean/std
STD = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)


class CompactTokenizer:
    """open_clip's BPE tokenizer followed by a map to rows of the trimmed token table.
    Sorting the kept ids preserves order, so end-of-text stays the largest id and
    open_clip's argmax text pooling is unchanged."""

    def __init__(self, tokenizer, extra_texts: list[str]):
        # encode() does not truncate to the context length; 0 is the padding id
        ids = {0, tokenizer.sot_token_id, tokenizer.eot_token_id}
        for t in [synthetic.vocabulary_text(), *extra_texts]:
            ids |= set(tokenizer.encode(t))
        self.token_ids = torch.tensor(sorted(ids))
        self.lut = torch.full((tokenizer.vocab_size,), -1, dtype=torch.long)
        self.lut[self.token_ids] = torch.arange(len(self.token_ids))
        self.tokenizer = tokenizer

    def __call__(self, texts: list[str]) -> torch.Tensor:
        tokens = self.lut[self.tokenizer(texts)]
        if (tokens < 0).any():
            raise ValueError("a caption uses a token outside synthetic.vocabulary_text(); add its words there")
        return tokens


class Batches(torch.utils.data.Dataset):
    """Batch i of the generated stream, as (normalised images, compact tokens)."""

    def __init__(self, gen: synthetic.CaptionedImages, size: int, tokenize: CompactTokenizer, steps: int):
        self.gen, self.size, self.tokenize, self.steps = gen, size, tokenize, steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, i: int):
        images, captions = self.gen.batch(i, self.size)
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)
        return (x - MEAN) / STD, self.tokenize(captions)


def build_model(vocab: int) -> nn.Module:
    import open_clip

    register_config()
    model = open_clip.create_model(ARCH, pretrained=None)
    width = model.token_embedding.embedding_dim
    model.token_embedding = nn.Embedding(vocab, width)
    nn.init.normal_(model.token_embedding.weight, std=0.02)  # open_clip's own init
    return model


def optimizer(model: nn.Module, lr: float, wd: float) -> torch.optim.Optimizer:
    # open_clip's convention: no decay on gains, biases and the temperature
    def no_decay(n, p):
        return p.ndim < 2 or "ln" in n or "bias" in n or "logit_scale" in n

    params = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in params if no_decay(n, p)], "weight_decay": 0.0},
        {"params": [p for n, p in params if not no_decay(n, p)], "weight_decay": wd},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)


def lr_at(progress: float, base: float, warmup: float) -> float:
    if progress < warmup:
        return base * progress / warmup
    return 0.5 * base * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


def evaluate(model, tokenize, sets) -> dict[str, float]:
    return {s.name: round(zeroshot.accuracy(model, tokenize, s), 4) for s in sets}


def save(model: nn.Module, token_ids: torch.Tensor, out: Path, record: dict) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().half().cpu().contiguous() for k, v in model.state_dict().items()}
    state = trim_token_embedding(state, token_ids)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out), metadata={"arch": ARCH, "generator": synthetic.GENERATOR_VERSION})
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=22.0, help="wall-clock budget of the training loop")
    ap.add_argument("--steps", type=int, default=1800, help="step limit (the schedule's length)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--warmup", type=float, default=0.05, help="fraction of the run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1, help="data-loader processes generating batches")
    ap.add_argument("--device", default="cpu", help="cpu (the reference) or cuda (same recipe, faster)")
    ap.add_argument("--eval-sets", default=",".join(zeroshot.EVAL_DATASETS), help="comma list; '' for none")
    ap.add_argument("--out", type=Path, default=HERE / PRETRAINED["lore-bench-v1"])
    args = ap.parse_args(argv)

    import open_clip

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    register_config()
    tokenize = CompactTokenizer(open_clip.get_tokenizer(ARCH), synthetic.eval_prompt_texts())
    model = build_model(len(tokenize.token_ids)).to(args.device).train()
    opt = optimizer(model, args.lr, args.wd)
    loss_fn = open_clip.loss.ClipLoss()
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else int(size)
    eval_names = [n for n in args.eval_sets.split(",") if n]
    quick = zeroshot.load_sets(size, limit=500, names=eval_names)
    print(f"[pretrain] {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
          f"{len(tokenize.token_ids)} tokens, eval sets: {[s.name for s in quick]}", flush=True)

    data = torch.utils.data.DataLoader(
        Batches(synthetic.CaptionedImages(args.seed), args.batch, tokenize, args.steps),
        batch_size=None, shuffle=False, num_workers=args.workers, prefetch_factor=4 if args.workers else None,
        worker_init_fn=lambda _: torch.set_num_threads(1),
    )
    budget = args.minutes * 60
    start = time.time()
    history, step, stopped_by = [], 0, "steps"
    for images, tokens in data:
        elapsed = time.time() - start
        if elapsed >= budget:
            stopped_by = "minutes"
            break
        lr = lr_at(max(step / args.steps, elapsed / budget), args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        img_f, txt_f, scale = model(images.to(args.device), tokens.to(args.device))
        loss = loss_fn(img_f, txt_f, scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        step += 1
        if step % 10 == 0:
            print(f"[pretrain] step {step} loss {loss.item():.3f} lr {lr:.2e} "
                  f"elapsed {time.time() - start:.0f}s ({step / (time.time() - start):.2f} steps/s)", flush=True)
        if step % args.eval_every == 0 and quick:
            acc = evaluate(model, tokenize, quick)
            history.append({"step": step, "elapsed_s": round(time.time() - start), **acc})
            print(f"[pretrain] zero-shot (500/set) at step {step}: {acc}", flush=True)
    train_s = time.time() - start

    model.eval()
    final = evaluate(model, tokenize, zeroshot.load_sets(size, names=eval_names))
    print(f"[pretrain] final zero-shot (full test splits): {final}", flush=True)
    record = {
        "arch": ARCH, "generator": synthetic.GENERATOR_VERSION, "seed": args.seed, "steps": step,
        "stopped_by": stopped_by, "minutes": round(train_s / 60, 2), "batch_size": args.batch,
        "lr": args.lr, "weight_decay": args.wd, "token_rows": len(tokenize.token_ids), "device": args.device,
        "torch": torch.__version__, "zero_shot_test_top1": final, "history": history,
    }
    save(model, tokenize.token_ids, args.out, record)
    print(f"[pretrain] wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)", flush=True)


if __name__ == "__main__":
    main()
