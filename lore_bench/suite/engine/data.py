"""Images -> tensors for one trial: the backbone's transforms and the loaders.

Train: RandomResizedCrop(scale 0.08-1, bicubic) + horizontal flip when
augmentation is on; test (and un-augmented train): resize the short side,
centre crop; the backbone's mean/std (docs/paper/protocols.md "Image pipeline").
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from ...backbones.base import ImageTowerInfo
from ...benchmarks.base import ImageSplit


def build_transform(info: ImageTowerInfo, train_augment: bool) -> T.Compose:
    size = info.image_size
    bicubic = T.InterpolationMode.BICUBIC
    norm = [T.ToTensor(), T.Normalize(info.mean, info.std)]
    if train_augment:
        return T.Compose([T.RandomResizedCrop(size, scale=(0.08, 1.0), interpolation=bicubic),
                          T.RandomHorizontalFlip(), *norm])
    return T.Compose([T.Resize(size, interpolation=bicubic), T.CenterCrop(size), *norm])


def transform_key(info: ImageTowerInfo) -> str:
    """Names the test-time preprocessing (part of feature-cache keys)."""
    return f"resize{info.image_size}-center-bicubic-mean{info.mean}-std{info.std}"


class SplitDataset(Dataset):
    def __init__(self, split: ImageSplit, transform):
        self.split, self.transform = split, transform

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int):
        return self.transform(self.split.load(i)), int(self.split.labels[i]), i


def collate(items) -> dict[str, torch.Tensor]:
    images, labels, index = zip(*items)
    return {"images": torch.stack(images), "labels": torch.tensor(labels), "index": torch.tensor(index)}


def loader(split: ImageSplit, transform, batch_size: int, shuffle: bool, seed: int = 0, epoch: int = 0,
           drop_last: bool = False) -> DataLoader:
    """Data order is a function of (seed, epoch) only, so a resumed trial sees
    the same batches as an uninterrupted one. ``drop_last`` (Dassl's loader)
    drops a last partial batch only when the split holds at least one full batch."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch) if shuffle else None
    return DataLoader(SplitDataset(split, transform), batch_size=batch_size, shuffle=shuffle,
                      generator=generator, collate_fn=collate, num_workers=0,
                      drop_last=drop_last and len(split) >= batch_size)


def feature_batches(features: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle: bool,
                    seed: int = 0, epoch: int = 0, drop_last: bool = False):
    """Batches of cached features in the same order (and with the same
    ``drop_last`` rule) an image loader would give."""
    n = len(labels)
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    else:
        order = torch.arange(n)
    end = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, end, batch_size):
        idx = order[start : start + batch_size]
        yield {"features": features[idx], "labels": labels[idx], "index": idx}


def labels_tensor(split: ImageSplit) -> torch.Tensor:
    return torch.from_numpy(np.asarray(split.labels, dtype=np.int64))
