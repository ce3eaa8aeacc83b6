"""Augmented training views made on the trial's device, in batches (``training.data_path: device``).

The CPU path (data.py) crops, flips, converts and normalises every image with
torchvision on the trial's own thread: ~1,200 images/s per core, far below what
a GPU trains on. Here the decoded uint8 images (the image cache's 224 px
squares) go to the device once per stage, and each batch is one batched
RandomResizedCrop + horizontal flip + normalisation:

- crop parameters follow torchvision's ``RandomResizedCrop.get_params`` (scale
  0.08-1, ratio 3/4-4/3 log-uniform, 10 tries then a clamped centre crop), drawn
  for a whole epoch at once from a generator seeded by (seed, epoch, stage), so a
  resumed trial replays exactly what it missed and the views are the same on any
  device;
- each crop is resampled to the output size by ``grid_sample`` (bicubic), flips
  folded into the same affine map; values clamped to [0, 255] like PIL's uint8;
- the data order is the CPU loader's (the same draws from the same seed).

Equivalence: the crops only ever enlarge (the images are no larger than the
output), where PIL's bicubic and this one differ only in the kernel's
sharpness constant (PIL a=-0.5, torch a=-0.75); ``tests/test_device_data.py``
checks area, aspect and flip statistics and output mean/std against the CPU
path. A split whose images are larger than the output or of mixed sizes would
need a downscaling (antialiased) resize: it uses the CPU path.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ...backbones.base import ImageTowerInfo

SCALE = (0.08, 1.0)  # torchvision's RandomResizedCrop defaults, the published CLIP/CoOp augmentation
RATIO = (3 / 4, 4 / 3)
ATTEMPTS = 10


def crop_params(n: int, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """[n, 4] (top, left, h, w) per image, RandomResizedCrop's rule vectorised over images."""
    area = height * width
    target = area * torch.empty(n, ATTEMPTS).uniform_(*SCALE, generator=generator)
    log_ratio = torch.empty(n, ATTEMPTS).uniform_(math.log(RATIO[0]), math.log(RATIO[1]), generator=generator)
    aspect = torch.exp(log_ratio)
    w = torch.sqrt(target * aspect).round()
    h = torch.sqrt(target / aspect).round()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    u_top = torch.rand(n, ATTEMPTS, generator=generator)
    u_left = torch.rand(n, ATTEMPTS, generator=generator)
    first = torch.where(fits.any(1), fits.float().argmax(1), torch.full((n,), -1))
    out = torch.empty(n, 4)
    ok = first >= 0
    rows = torch.nonzero(ok).squeeze(1)
    k = first[ok]
    hh, ww = h[rows, k], w[rows, k]
    # randint(0, H - h + 1) as floor(u * (H - h + 1))
    out[ok] = torch.stack([(u_top[rows, k] * (height - hh + 1)).floor(),
                           (u_left[rows, k] * (width - ww + 1)).floor(), hh, ww], 1)
    if (~ok).any():  # torchvision's fallback: the whole image, its ratio clamped, centred
        in_ratio = width / height
        if in_ratio < RATIO[0]:
            fw, fh = width, round(width / RATIO[0])
        elif in_ratio > RATIO[1]:
            fh, fw = height, round(height * RATIO[1])
        else:
            fw, fh = width, height
        out[~ok] = torch.tensor([(height - fh) // 2, (width - fw) // 2, fh, fw], dtype=torch.float32)
    return out


def augment_batch(images: torch.Tensor, params: torch.Tensor, flips: torch.Tensor, size: int,
                  mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 [B, H, W, 3] on the device -> normalised float [B, 3, size, size]: crop, resize, flip."""
    b, height, width, _ = images.shape
    x = images.permute(0, 3, 1, 2).float()
    top, left, h, w = (params[:, i].to(x.device) for i in range(4))
    # Output coords in [-1, 1] -> input coords in [-1, 1] (align_corners=False): the crop's box.
    sx, sy = w / width, h / height
    theta = torch.zeros(b, 2, 3, device=x.device)
    theta[:, 0, 0] = torch.where(flips.to(x.device), -sx, sx)
    theta[:, 0, 2] = (2 * left + w) / width - 1
    theta[:, 1, 1] = sy
    theta[:, 1, 2] = (2 * top + h) / height - 1
    grid = F.affine_grid(theta, [b, 3, size, size], align_corners=False)
    out = F.grid_sample(x, grid, mode="bicubic", padding_mode="border", align_corners=False).clamp_(0, 255)
    return (out / 255.0 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)


def uniform_images(split) -> np.ndarray | None:
    """All of a split's images as one uint8 [N, H, W, 3] array, or None when their sizes differ."""
    first = None
    out = None
    for i in range(len(split)):
        img = np.asarray(split.load(i).convert("RGB"), dtype=np.uint8)
        if first is None:
            first = img.shape
            out = np.empty((len(split), *first), dtype=np.uint8)
        elif img.shape != first:
            return None
        out[i] = img
    return out


class DeviceViews:
    """A split's images resident on the device, served as augmented batches per (seed, epoch)."""

    def __init__(self, images: np.ndarray, labels: torch.Tensor, info: ImageTowerInfo, device: torch.device):
        self.images = torch.from_numpy(images).to(device)  # once per stage: uint8, a quarter of float32
        self.labels = labels.to(device)
        self.size = info.image_size
        self.mean = torch.tensor(info.mean, dtype=torch.float32, device=device)
        self.std = torch.tensor(info.std, dtype=torch.float32, device=device)

    def __len__(self) -> int:
        return len(self.labels)

    def epoch_views(self, epoch_seed: int):
        """Crop boxes and flips of every image for one epoch (CPU generator: the same on any device)."""
        g = torch.Generator().manual_seed(epoch_seed)
        _, height, width, _ = self.images.shape
        params = crop_params(len(self), height, width, g)
        flips = torch.rand(len(self), generator=g) < 0.5
        return params, flips

    def transform_key(self) -> str:
        """Names the augmentation (part of the shared view-feature cache's key)."""
        return (f"device-rrc{self.size}-scale{SCALE}-ratio{RATIO[0]:.4f},{RATIO[1]:.4f}-bicubic-flip-v1"
                f"-mean{tuple(self.mean.tolist())}-std{tuple(self.std.tolist())}")

    def all_views(self, epoch_seed: int, batch_size: int):
        """Every image's view of one epoch, in index order, in chunks of ``batch_size``."""
        params, flips = self.epoch_views(epoch_seed)
        for start in range(0, len(self), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(self)))
            yield augment_batch(self.images[idx.to(self.images.device)], params[idx], flips[idx], self.size,
                                self.mean, self.std)

    def order(self, order_seed: int, batch_size: int, drop_last: bool) -> list[torch.Tensor]:
        """Index batches in the CPU loader's order (its generator's draws for ``order_seed``)."""
        n = len(self)
        g = torch.Generator().manual_seed(order_seed)
        # A DataLoader draws its workers' base seed from its generator before the sampler's randperm.
        torch.empty((), dtype=torch.int64).random_(generator=g)
        order = torch.randperm(n, generator=g)
        end = n - n % batch_size if drop_last and n >= batch_size else n
        return [order[start:start + batch_size] for start in range(0, end, batch_size)]

    def feature_batches(self, features: torch.Tensor, batch_size: int, order_seed: int, drop_last: bool = False):
        """Batches of an epoch's view features (``augmented_view_features``), in the image batches' order."""
        for idx in self.order(order_seed, batch_size, drop_last):
            yield {"features": features[idx.to(features.device)], "labels": self.labels[idx.to(self.labels.device)],
                   "index": idx}

    def batches(self, batch_size: int, order_seed: int, epoch_seed: int, drop_last: bool = False):
        """Batches in the CPU loader's order, as its dicts."""
        params, flips = self.epoch_views(epoch_seed)
        for idx in self.order(order_seed, batch_size, drop_last):
            dev_idx = idx.to(self.images.device)
            yield {"images": augment_batch(self.images[dev_idx], params[idx], flips[idx], self.size, self.mean,
                                           self.std),
                   "labels": self.labels[dev_idx], "index": idx}


def device_views(split, labels: torch.Tensor, info: ImageTowerInfo, device: torch.device) -> DeviceViews | None:
    """DeviceViews of ``split`` where the device path is equivalent to the CPU one (images of one size, no
    larger than the tower's input: crops only enlarge); None otherwise (the caller uses the CPU path)."""
    if len(split) == 0:
        return None
    images = uniform_images(split)
    if images is None or images.shape[1] > info.image_size or images.shape[2] > info.image_size:
        return None
    return DeviceViews(images, labels, info, device)
