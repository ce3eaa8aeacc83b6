"""Tiny generated datasets in the real layouts of ROxford5k/RParis6k, SPair-71k and
DAVIS 2017, for tests and for the offline demo suite (the real ones are large
manual downloads). Deterministic given the seed; seconds on a CPU.

    python -m lore_bench.benchmarks.frozen.fixtures ROOT   # all four under ROOT
"""
from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .video_segmentation import save_indexed_png

LANDMARK_COLOURS = [(200, 60, 50), (50, 170, 70), (60, 80, 210), (210, 190, 40), (160, 60, 180)]


def _save_jpg(arr: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, quality=95)


def _landmark(label: int, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A synthetic 'landmark': its own colour and stripe orientation, plus noise."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    angle = np.pi * label / 5
    stripes = np.sin((x * np.cos(angle) + y * np.sin(angle)) / 3.0)[..., None]
    colour = np.array(LANDMARK_COLOURS[label % len(LANDMARK_COLOURS)], dtype=np.float64)
    return colour * (0.75 + 0.25 * stripes) + rng.normal(0, 12, (h, w, 3))


def make_retrieval(root: str | Path, name: str = "roxford5k", landmarks: int = 3, db_per_landmark: int = 3,
                   size: tuple[int, int] = (64, 48), seed: int = 0, as_numpy: bool = False) -> dict:
    """``<root>/<name>/gnd_<name>.pkl`` + ``jpg/``: one query per landmark; of its
    database images the first is easy, the second hard, the rest junk; query 0 has
    no hard image (its Hard AP is NaN and left out)."""
    rng = np.random.default_rng(seed)
    base = Path(root) / name
    imlist, labels, gnd = [], [], []
    for lab in range(landmarks):
        for i in range(db_per_landmark):
            imlist.append(f"{name[:3]}_{lab}_{i}")
            labels.append(lab)
    order = rng.permutation(len(imlist))  # the database is not sorted by landmark
    imlist, labels = [imlist[i] for i in order], [labels[i] for i in order]
    qimlist = [f"{name[:3]}_query_{lab}" for lab in range(landmarks)]
    for lab in range(landmarks):
        members = [i for i, l in enumerate(labels) if l == lab]
        easy, hard, junk = members[:1], members[1:2], members[2:]
        if lab == 0:
            easy, hard = easy + hard, []
        to = np.array if as_numpy else list
        gnd.append({"bbx": [2.0, 2.0, size[0] - 2.0, size[1] - 2.0], "easy": to(easy), "hard": to(hard), "junk": to(junk)})
    for n, lab in zip(imlist + qimlist, labels + list(range(landmarks))):
        _save_jpg(_landmark(lab, size, rng), base / "jpg" / f"{n}.jpg")
    with open(base / f"gnd_{name}.pkl", "wb") as f:
        pickle.dump({"imlist": imlist, "qimlist": qimlist, "gnd": gnd}, f)
    return {"db_labels": labels, "query_labels": list(range(landmarks))}


# --- SPair-71k ----------------------------------------------------------------------
def write_pair(root: Path, pair_id: int, category: str, src: dict, trg: dict, separator: str = ":",
               split: str = "test", trg_kps: dict | None = None) -> Path:
    """A PairAnnotation file with every official field; ``src``/``trg`` are image
    annotations as written by :func:`make_spair` (``trg_kps`` overrides the target's)."""
    tk = trg_kps if trg_kps is not None else trg["kps"]
    ids = [k for k in sorted(src["kps"], key=int) if src["kps"][k] is not None and tk.get(k) is not None]
    stem = lambda a: a["filename"].rsplit(".", 1)[0]  # noqa: E731
    d = {
        "pair_id": pair_id, "filename": f"{pair_id:06d}-{stem(src)}-{stem(trg)}", "src_imname": src["filename"],
        "trg_imname": trg["filename"], "src_imsize": [src["image_width"], src["image_height"], 3],
        "trg_imsize": [trg["image_width"], trg["image_height"], 3], "src_bndbox": src["bndbox"],
        "trg_bndbox": trg["bndbox"], "category": category, "src_pose": "Frontal", "trg_pose": "Frontal",
        "src_kps": [src["kps"][k] for k in ids], "trg_kps": [tk[k] for k in ids],
        # SPair writes kps_ids as numeric strings in some files; exercise that.
        "kps_ids": [k if i % 2 else int(k) for i, k in enumerate(ids)],
        "mirror": 0, "viewpoint_variation": 0, "scale_variation": 0, "truncation": 0, "occlusion": 0,
    }
    path = root / "PairAnnotation" / split / f"{d['filename']}{separator}{category}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(d))
    return path


def make_spair(root: str | Path, categories=("bird", "car"), images_per_category: int = 3,
               size: tuple[int, int] = (120, 80), num_kps: int = 5, seed: int = 0, separator: str = ":") -> Path:
    """``<root>/SPair-71k``: non-square images (the last of each category portrait),
    coloured discs at the keypoints, one keypoint per image left null, every ordered
    pair i < j as a test pair."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "SPair-71k"
    for sub in ("trn", "val", "test"):
        (base / "PairAnnotation" / sub).mkdir(parents=True, exist_ok=True)
    pair_id = 1
    for cat in categories:
        anns = []
        for i in range(images_per_category):
            w, h = size if i < images_per_category - 1 else size[::-1]
            img = rng.normal(90, 20, (h, w, 3))
            kps = {}
            for k in range(num_kps):
                if k == (i % num_kps):
                    kps[str(k)] = None
                    continue
                while True:  # discs apart, so a colour oracle can tell every keypoint apart
                    x, y = float(rng.integers(8, w - 8)), float(rng.integers(8, h - 8))
                    if all(v is None or (v[0] - x) ** 2 + (v[1] - y) ** 2 > 14**2 for v in kps.values()):
                        break
                yy, xx = np.mgrid[0:h, 0:w]
                img[(xx - x) ** 2 + (yy - y) ** 2 <= 16] = LANDMARK_COLOURS[k % len(LANDMARK_COLOURS)]
                kps[str(k)] = [x, y]
            name = f"{cat}_{i:02d}.jpg"
            _save_jpg(img, base / "JPEGImages" / cat / name)
            ann = {"filename": name, "src_database": "fixture", "src_annotation": "", "src_image": name,
                   "image_width": w, "image_height": h, "image_depth": 3, "category": cat, "pose": "Frontal",
                   "truncated": 0, "occluded": 0, "difficult": 0, "bndbox": [4, 6, w - 10, h - 4],
                   "kps": kps, "azimuth_id": 0}
            (base / "ImageAnnotation" / cat).mkdir(parents=True, exist_ok=True)
            (base / "ImageAnnotation" / cat / f"{name[:-4]}.json").write_text(json.dumps(ann))
            anns.append(ann)
        for i in range(len(anns)):
            for j in range(i + 1, len(anns)):
                write_pair(base, pair_id, cat, anns[i], anns[j], separator)
                pair_id += 1
    return base


# --- DAVIS 2017 ------------------------------------------------------------------------
def make_davis(root: str | Path, sequences=("seqA", "seqB"), frames: int = 6, size: tuple[int, int] = (128, 96),
               square: int = 32, step: int = 4, seed: int = 0) -> Path:
    """``<root>/DAVIS``: per sequence two squares (ids 1, 2) moving on a textured
    background; indexed PNG annotations for every frame; ImageSets/2017/val.txt."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "DAVIS"
    w, h = size
    for s, seq in enumerate(sequences):
        starts = [(8 + 6 * s, 10), (w - square - 30, 8 + 4 * s)]
        moves = [(step, 1), (-1, step)]
        background = rng.normal(120, 15, (h, w, 3))
        for t in range(frames):
            img, seg = background + rng.normal(0, 4, (h, w, 3)), np.zeros((h, w), dtype=np.uint8)
            for k, ((x0, y0), (dx, dy)) in enumerate(zip(starts, moves), start=1):
                x, y = x0 + dx * t, y0 + dy * t
                img[y : y + square, x : x + square] = LANDMARK_COLOURS[k - 1]
                seg[y : y + square, x : x + square] = k
            _save_jpg(img, base / "JPEGImages" / "480p" / seq / f"{t:05d}.jpg")
            save_indexed_png(seg, base / "Annotations" / "480p" / seq / f"{t:05d}.png")
    sets = base / "ImageSets" / "2017"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "val.txt").write_text("".join(f"{s}\n" for s in sequences))
    (sets / "train.txt").write_text("")
    return base


# --- oracle feature extractors (the contract of features.py, no backbone) ------------
class PositionalOracle:
    """Patch features that encode only the pixel position (one patch per pixel): the
    nearest neighbour of a pixel in an image of the same size is that pixel."""

    patch_size, depth, final_norm = 1, 0, False

    def __init__(self, image_size: int = 224):
        self.image_size = image_size

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        freqs = np.pi / max(h, w) * torch.tensor([1.0, 2.0, 4.0, 8.0])
        rows, cols = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
        parts = [f(v[..., None] * freqs) for v in (rows, cols) for f in (torch.cos, torch.sin)]
        return torch.cat(parts, dim=-1).expand(x.shape[0], h, w, -1)

    def cls(self, x: torch.Tensor) -> torch.Tensor:
        return self.patches(x).mean(dim=(1, 2))


class ColourOracle:
    """Patch features = closeness of the patch's mean colour to each fixture colour
    (background grey and LANDMARK_COLOURS): objects of the fixtures are told apart."""

    depth, final_norm = 0, False
    PALETTE = [(120, 120, 120)] + LANDMARK_COLOURS

    def __init__(self, patch_size: int = 4, image_size: int = 32, sigma: float = 0.15):
        self.patch_size, self.image_size, self.sigma = patch_size, image_size, sigma

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        colour = torch.nn.functional.avg_pool2d(x, self.patch_size).permute(0, 2, 3, 1)  # B, h, w, 3
        palette = torch.tensor(self.PALETTE, dtype=torch.float32) / 255.0
        dist2 = ((colour[..., None, :] - palette) ** 2).sum(-1)
        return torch.exp(-dist2 / (2 * self.sigma**2)) + 1e-6

    def cls(self, x: torch.Tensor) -> torch.Tensor:
        return self.patches(x).mean(dim=(1, 2))


def make_all(root: str | Path, seed: int = 0) -> Path:
    """Every frozen-task fixture under one data root (the demo suite's)."""
    root = Path(root)
    make_retrieval(root, "roxford5k", seed=seed)
    make_retrieval(root, "rparis6k", seed=seed + 1, as_numpy=True)
    make_spair(root, seed=seed)
    make_davis(root, seed=seed)
    return root


if __name__ == "__main__":
    print(make_all(sys.argv[1] if len(sys.argv) > 1 else "frozen_fixtures"))
