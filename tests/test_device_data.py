"""The device data path (training.data_path: device) against the CPU path it replaces: crop area and aspect
distributions, flip rate, the resampling itself, output mean/std on a fixed image, and the data order."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as TF

from lore_bench.backbones.base import ImageTowerInfo
from lore_bench.benchmarks.base import array_split
from lore_bench.suite.engine.data import build_transform, loader
from lore_bench.suite.engine.device_data import DeviceViews, augment_batch, crop_params, device_views

SIZE = 32  # the statistics are the same at any size; small keeps the test fast on a shared CPU
INFO = ImageTowerInfo(image_size=SIZE, patch_size=16, grid=(2, 2), width=64, num_layers=1, feature_dim=64,
                      num_prefix_tokens=1, mean=(0.48, 0.46, 0.41), std=(0.27, 0.26, 0.28))


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    grid = np.sort(np.concatenate([a, b]))
    return float(np.abs(np.searchsorted(np.sort(a), grid, "right") / len(a)
                        - np.searchsorted(np.sort(b), grid, "right") / len(b)).max())


def test_crop_boxes_follow_torchvision_random_resized_crop():
    n, h, w = 4000, 224, 224
    ours = crop_params(n, h, w, torch.Generator().manual_seed(0)).numpy()
    torch.manual_seed(1)
    img = torch.zeros(3, h, w)
    ref = np.array([T.RandomResizedCrop.get_params(img, (0.08, 1.0), (3 / 4, 4 / 3)) for _ in range(n)], float)
    for got, want in ((ours, ref),):
        area_g, area_w = got[:, 2] * got[:, 3] / (h * w), want[:, 2] * want[:, 3] / (h * w)
        aspect_g, aspect_w = np.log(got[:, 3] / got[:, 2]), np.log(want[:, 3] / want[:, 2])
        # two samples of one distribution: KS distance well under the 0.1 % critical value (~0.044 here)
        assert _ks(area_g, area_w) < 0.044 and _ks(aspect_g, aspect_w) < 0.044
        assert abs(area_g.mean() - area_w.mean()) < 0.02 and area_g.min() >= 0.079 and area_g.max() <= 1.0
        assert np.abs(aspect_g).max() <= math.log(4 / 3) + 0.02
        # boxes inside the image, positions uniform over where they fit
        assert (got[:, 0] >= 0).all() and (got[:, 0] + got[:, 2] <= h).all()
        assert (got[:, 1] >= 0).all() and (got[:, 1] + got[:, 3] <= w).all()
        slack = (w - got[:, 3])
        rel = np.where(slack > 0, got[:, 1] / np.maximum(slack, 1), 0.5)
        assert abs(rel.mean() - 0.5) < 0.03


def test_flip_rate_is_one_half_and_views_are_a_function_of_the_epoch_seed():
    images = np.zeros((4000, 8, 8, 3), np.uint8)
    views = DeviceViews(images, torch.zeros(4000, dtype=torch.long), INFO, torch.device("cpu"))
    params, flips = views.epoch_views(7)
    assert abs(flips.float().mean().item() - 0.5) < 0.03
    again, flips2 = views.epoch_views(7)
    assert torch.equal(params, again) and torch.equal(flips, flips2)
    assert not torch.equal(params, views.epoch_views(8)[0])


def _image(seed=0, size=SIZE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_the_whole_image_comes_back_exactly_and_flips_mirror_it():
    img = _image()
    x = torch.from_numpy(img)[None]
    mean, std = torch.tensor(INFO.mean), torch.tensor(INFO.std)
    whole = torch.tensor([[0.0, 0.0, SIZE, SIZE]])
    out = augment_batch(x, whole, torch.tensor([False]), SIZE, mean, std)
    ref = build_transform(INFO, train_augment=False)(Image.fromarray(img))  # resize/crop are no-ops here
    assert torch.allclose(out[0], ref, atol=1e-5)
    flipped = augment_batch(x, whole, torch.tensor([True]), SIZE, mean, std)
    assert torch.allclose(flipped[0], ref.flip(-1), atol=1e-5)


def test_a_crop_is_resampled_like_torchvision_resized_crop():
    img = torch.from_numpy(_image(1)).permute(2, 0, 1).float()
    top, left, h, w = 5, 9, 16, 12
    ref = TF.resized_crop(img, top, left, h, w, [SIZE, SIZE], interpolation=T.InterpolationMode.BICUBIC,
                          antialias=False)
    ours = augment_batch(torch.from_numpy(_image(1))[None], torch.tensor([[top, left, h, w]], dtype=torch.float32),
                         torch.tensor([False]), SIZE, torch.zeros(3), torch.full((3,), 1 / 255))[0]
    inner = (slice(None), slice(4, -4), slice(4, -4))  # at the crop's edges torchvision replicates, we read beyond
    assert (ours[inner] - ref.clamp(0, 255)[inner]).abs().max() < 1.0  # of 255


def test_output_mean_and_std_on_a_fixed_image_match_the_cpu_path():
    # A smooth image, so that a crop's statistics depend on where it is and how large it is.
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    img = np.stack([255 * xx, 255 * yy, 127 + 100 * np.sin(6 * xx) * np.cos(4 * yy)], -1).astype(np.uint8)
    n = 600
    cpu_tf = build_transform(INFO, train_augment=True)
    torch.manual_seed(0)
    pil = Image.fromarray(img)
    cpu = torch.stack([cpu_tf(pil) for _ in range(n)])
    views = DeviceViews(np.repeat(img[None], n, 0), torch.zeros(n, dtype=torch.long), INFO, torch.device("cpu"))
    dev = next(iter(views.batches(n, 0, 3)))["images"]
    assert dev.shape == cpu.shape
    for dims in ((0, 2, 3),):
        # per channel over all views and pixels; standard errors here are ~0.02 (crops are large, correlated pixels)
        assert torch.allclose(dev.mean(dims), cpu.mean(dims), atol=0.06)
        assert torch.allclose(dev.std(dims), cpu.std(dims), rtol=0.06)
    # the spread of a view's mean (crop position and size): the same within sampling error
    assert torch.allclose(dev.mean((2, 3)).std(0), cpu.mean((2, 3)).std(0), rtol=0.15)
    # the horizontal gradient (channel 0) says how often views are flipped
    left_minus_right = lambda x: (x[:, 0, :, : SIZE // 2].mean((1, 2)) - x[:, 0, :, SIZE // 2:].mean((1, 2)) > 0)
    assert abs(left_minus_right(dev).float().mean() - left_minus_right(cpu).float().mean()) < 0.08


def test_batches_come_in_the_cpu_loaders_order_and_odd_splits_fall_back():
    images = np.stack([_image(i, 8) for i in range(10)])
    labels = np.arange(10) % 3
    split = array_split("t", images, labels)
    views = device_views(split, torch.as_tensor(labels), INFO, torch.device("cpu"))
    got = [b["index"].tolist() for b in views.batches(4, 11, 5, drop_last=True)]
    want = [b["index"].tolist() for b in loader(split, build_transform(INFO, True), 4, True, seed=0, epoch=11,
                                                drop_last=True)]
    assert got == want and len(got) == 2
    batch = next(iter(views.batches(4, 11, 5)))
    assert batch["images"].shape == (4, 3, SIZE, SIZE) and torch.equal(batch["labels"], torch.as_tensor(labels)[batch["index"]])
    big = array_split("big", np.zeros((2, SIZE * 2, SIZE * 2, 3), np.uint8), np.zeros(2))
    assert device_views(big, torch.zeros(2, dtype=torch.long), INFO, torch.device("cpu")) is None  # would downscale


@pytest.mark.parametrize("data_path", ["device", "cpu"])
def test_a_trial_trains_on_either_path(data_path):
    from conftest import make_spec
    from lore_bench import run_trial

    spec = make_spec(training={"epochs": 1, "augment": True, "batch_size": 8, "data_path": data_path})
    row = run_trial(spec).rows[0]
    assert row["status"] == "ok" and row["train_images_per_s"] > 0
    assert ("data_path" in spec.identity()["training"]) == (data_path == "device")  # cpu keeps the earlier ids


@pytest.mark.slow  # three trials: ~30 s on an idle 2-core machine
def test_shared_view_features_train_like_encoding_each_batch_and_are_reused_across_methods(monkeypatch, tmp_path):
    from conftest import make_spec
    from lore_bench import run_trial
    from lore_bench.suite.engine import feature_cache, fit as fit_module

    monkeypatch.setenv("LORE_BENCH_CACHE", str(tmp_path))
    feature_cache.clear_memory_cache()
    training = {"epochs": 2, "augment": True, "batch_size": 8, "lr": 0.01}
    calls = []
    real = feature_cache.augmented_view_features
    monkeypatch.setattr(fit_module, "augmented_view_features", lambda *a, **k: calls.append(a[5]) or real(*a, **k))
    shared = run_trial(make_spec("coop", training=training))
    cached = set(feature_cache._MEMORY)
    assert len(calls) == 2 and len(cached) >= 2  # one feature set per epoch's views
    # the same views encoded batch by batch inside the training step: the same training
    monkeypatch.setattr(fit_module, "uses_feature_cache", lambda method: False)
    per_batch = run_trial(make_spec("coop", training=training))
    assert shared.rows[0]["top1"] == pytest.approx(per_batch.rows[0]["top1"], abs=1e-6)
    assert shared.epochs[-1]["train_loss"] == pytest.approx(per_batch.epochs[-1]["train_loss"], rel=1e-4)
    # another frozen-tower method of the same (dataset, shots, seed) reads those features, computes none
    monkeypatch.undo()
    monkeypatch.setenv("LORE_BENCH_CACHE", str(tmp_path))
    before = dict(feature_cache._MEMORY)
    run_trial(make_spec("clip_adapter", training=training))
    assert set(feature_cache._MEMORY) == set(before)
