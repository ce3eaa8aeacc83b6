"""Zero-shot accuracy of a CLIP model on registered datasets (used while pretraining).

Images go through open_clip's own eval transform for the model's input size,
the same path a suite uses, and the classifier is the dataset's single template.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

#: Datasets micro-CLIP is scored on; missing ones are skipped with a note.
EVAL_DATASETS = ("sklearn_digits", "mnist", "textures", "locality", "textile_defects")


class ZeroShotSet:
    """A dataset's test split, preprocessed once into a tensor (optionally subsampled)."""

    def __init__(self, name: str, image_size: int, limit: int | None = None, seed: int = 0):
        import open_clip

        from lore_bench.benchmarks import get_dataset

        ds = get_dataset(name)
        split = ds.load_split("test")
        idx = np.arange(len(split))
        if limit and limit < len(idx):
            idx = np.sort(np.random.default_rng(seed).choice(idx, limit, replace=False))
        transform = open_clip.image_transform(image_size, is_train=False)
        self.name = name
        self.images = torch.stack([transform(split.load(int(i))) for i in idx])
        self.labels = torch.as_tensor(split.labels[idx])
        self.prompts = [ds.template.format(c) for c in ds.classnames]


def load_sets(image_size: int, limit: int | None = None, names: Sequence[str] = EVAL_DATASETS) -> list[ZeroShotSet]:
    sets = []
    for name in names:
        try:
            sets.append(ZeroShotSet(name, image_size, limit))
        except Exception as err:  # a dataset not prepared here (e.g. textile images) is skipped
            print(f"[zero-shot] skipping {name}: {type(err).__name__}: {err}", flush=True)
    return sets


@torch.no_grad()
def accuracy(model, tokenize: Callable[[list[str]], torch.Tensor], zs: ZeroShotSet, batch: int = 500) -> float:
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    text = model.encode_text(tokenize(zs.prompts).to(device), normalize=True)
    correct = 0
    for i in range(0, len(zs.labels), batch):
        feats = model.encode_image(zs.images[i : i + batch].to(device), normalize=True)
        correct += int(((feats @ text.T).argmax(-1).cpu() == zs.labels[i : i + batch]).sum())
    model.train(was_training)
    return correct / len(zs.labels)
