"""Tiny copies of the paper datasets in their real on-disk layouts (split files
included), so the real loaders are tested without the real data.

Each ``make_<name>(root)`` writes under ``root`` and returns what a correct
loader must report: class names and split sizes.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
from PIL import Image


def _image(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(path)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _coop(root: Path, folder: str, image_sub: str, split_file: str, classes: list[str], paths_for) -> dict:
    """CoOp split file plus images: per class 2 train, 1 val, 2 test."""
    split = {"train": [], "val": [], "test": []}
    for label, name in enumerate(classes):
        for part, n in (("train", 2), ("val", 1), ("test", 2)):
            for k in range(n):
                rel = paths_for(name, label, part, k)
                _image(root / folder / image_sub / rel, label)
                split[part].append([rel, label, name])
    _write(root / folder / split_file, json.dumps(split))
    return {"train": 3 * len(classes), "test": 2 * len(classes)}


def make_flowers102(root: Path) -> dict:
    classes = ["pink primrose", "hard-leaved pocket orchid", "canterbury bells"]
    counter = iter(range(1, 10_000))
    counts = _coop(root, "oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json", classes,
                   lambda name, label, part, k: f"image_{next(counter):05d}.jpg")
    return {"classnames": classes, **counts}


def make_stanford_cars(root: Path) -> dict:
    classes = ["2012 Audi TTS Coupe", "2007 BMW X5 SUV"]
    counter = iter(range(1, 10_000))
    counts = _coop(root, "stanford_cars", "", "split_zhou_StanfordCars.json", classes,
                   lambda name, label, part, k: f"cars_{'test' if part == 'test' else 'train'}/{next(counter):05d}.jpg")
    return {"classnames": classes, **counts}


def make_eurosat(root: Path) -> dict:
    raw = ["AnnualCrop", "Forest", "SeaLake"]  # raw names: the loader applies CoOp's renaming
    counts = _coop(root, "eurosat", "2750", "split_zhou_EuroSAT.json", raw,
                   lambda name, label, part, k: f"{name}/{name}_{part}{k}.jpg")
    return {"classnames": ["Annual Crop Land", "Forest", "Sea or Lake"], **counts}


def make_ucf101(root: Path) -> dict:
    raw = ["Apply_Eye_Makeup", "Basketball"]
    counts = _coop(root, "ucf101", "UCF-101-midframes", "split_zhou_UCF101.json", raw,
                   lambda name, label, part, k: f"{name}/v_{name.replace('_', '')}_g0{k}_c0{len(part)}.jpg")
    return {"classnames": ["Apply Eye Makeup", "Basketball"], **counts}


def make_fgvc_aircraft(root: Path) -> dict:
    data = root / "fgvc_aircraft" / "fgvc-aircraft-2013b" / "data"  # the archive extracted as is
    variants = ["707-320", "Cessna 172", "A340-500"]
    _write(data / "variants.txt", "\n".join(variants) + "\n")
    image_id = 1_000_000
    for split, per_class in (("train", 2), ("val", 1), ("test", 1)):
        lines = []
        for v in variants:
            for _ in range(per_class):
                image_id += 1
                _image(data / "images" / f"{image_id}.jpg")
                lines.append(f"{image_id} {v}")
        _write(data / f"images_variant_{split}.txt", "\n".join(lines) + "\n")
    return {"classnames": variants, "train": 9, "test": 3}


def make_stanford_dogs(root: Path) -> dict:
    from scipy.io import savemat

    base = root / "stanford_dogs"
    folders = ["n02085620-Chihuahua", "n02085782-Japanese_spaniel", "n02086240-Shih-Tzu"]
    for split, n in (("train", 3), ("test", 2)):
        files = []
        for label, folder in enumerate(folders):
            for k in range(n):
                rel = f"{folder}/{folder.split('-')[0]}_{split}{k}.jpg"
                _image(base / "Images" / rel)
                files.append(rel)
        cells = np.empty((len(files), 1), dtype=object)
        for i, f in enumerate(files):
            cells[i, 0] = np.array([f])
        labels = np.repeat(np.arange(1, len(folders) + 1), n).reshape(-1, 1).astype(float)
        savemat(str(base / f"{split}_list.mat"), {"file_list": cells, "labels": labels})
    return {"classnames": ["Chihuahua", "Japanese spaniel", "Shih-Tzu"], "train": 9, "test": 6}


def _cifar_batch(path: Path, n: int, n_classes: int, label_key: str, first: int = 0) -> None:
    rng = np.random.default_rng(n + first)
    batch = {"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
             label_key: [(first + i) % n_classes for i in range(n)]}
    path.write_bytes(pickle.dumps(batch))


def make_cifar10(root: Path) -> dict:
    base = root / "cifar10" / "cifar-10-batches-py"
    base.mkdir(parents=True)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    for i in range(1, 6):
        _cifar_batch(base / f"data_batch_{i}", 4, 10, "labels", first=4 * (i - 1))
    _cifar_batch(base / "test_batch", 6, 10, "labels")
    (base / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
    return {"classnames": names, "train": 20, "test": 6}


def make_cifar100(root: Path) -> dict:
    base = root / "cifar100" / "cifar-100-python"
    base.mkdir(parents=True)
    names = ["apple", "aquarium_fish", "baby"]
    _cifar_batch(base / "train", 9, 3, "fine_labels")
    _cifar_batch(base / "test", 3, 3, "fine_labels")
    (base / "meta").write_bytes(pickle.dumps({"fine_label_names": names}))
    return {"classnames": ["apple", "aquarium fish", "baby"], "train": 9, "test": 3}


def make_dtd(root: Path) -> dict:
    base = root / "dtd"
    classes = ["banded", "blotchy", "zigzagged"]
    parts = {"train1": [], "val1": [], "test1": []}
    for c in classes:
        for k, part in enumerate(["train1", "train1", "val1", "test1", "test1"]):
            rel = f"{c}/{c}_{k:04d}.jpg"
            _image(base / "images" / rel)
            parts[part].append(rel)
    for part, lines in parts.items():
        _write(base / "labels" / f"{part}.txt", "\n".join(lines) + "\n")
    return {"classnames": classes, "train": 9, "test": 6}


def _list_dataset(base: Path, image_sub: str, classes: list[str], name_of, bare: bool) -> dict:
    lists = {"train": [], "test": []}
    for c in classes:
        for k in range(5):
            fname = name_of(c, k)
            _image(base / image_sub / c / fname)
            lists["train" if k < 3 else "test"].append(fname if bare else f"{c}/{fname}")
    for split, lines in lists.items():
        _write(base / f"{split}.txt", "\n".join(lines) + "\n")
    return {"train": 3 * len(classes), "test": 2 * len(classes)}


def make_resisc45(root: Path) -> dict:
    classes = ["airplane", "baseball_diamond", "sea_ice"]
    # bare file names, as in torchgeo's resisc45-*.txt lists
    counts = _list_dataset(root / "resisc45", "NWPU-RESISC45", classes, lambda c, k: f"{c}_{k + 1:03d}.jpg", bare=True)
    return {"classnames": ["airplane", "baseball diamond", "sea ice"], **counts}


def make_patternnet(root: Path) -> dict:
    classes = ["airplane", "oil_gas_field", "tennis_court"]
    counts = _list_dataset(root / "patternnet", "PatternNet/images", classes, lambda c, k: f"{c}{k + 1:03d}.jpg",
                           bare=False)
    return {"classnames": ["airplane", "oil gas field", "tennis court"], **counts}


def make_imagenet(root: Path) -> dict:
    base = root / "imagenet"
    classes = [("n01440764", "tench"), ("n01443537", "goldfish"), ("n01484850", "great white shark")]
    _write(base / "classnames.txt", "\n".join(f"{w} {n}" for w, n in classes) + "\n")
    for wnid, _ in classes:
        for k in range(3):
            _image(base / "train" / wnid / f"{wnid}_{k}.JPEG")
        _image(base / "val" / wnid / f"ILSVRC2012_val_{wnid[-3:]}.JPEG")
    return {"classnames": [n for _, n in classes], "train": 9, "test": 3}


MAKERS = {name[len("make_"):]: fn for name, fn in dict(globals()).items() if name.startswith("make_")}
