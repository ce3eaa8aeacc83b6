"""Semantic correspondence on SPair-71k: PCK of nearest-neighbour patch features.

Procedure of Walmer et al. (run_kp_analysis.py), which LORE's numbers match in
magnitude: 20 sampled test pairs per category (seed 42), images resized and
padded to a square canvas, patch features L2-normalised then bilinearly
upsampled to pixels, one-directional nearest neighbour per source keypoint,
PCK@alpha of the target bounding box, per category then averaged. Our own code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image

from ..base import DatasetMissingError, DoctorReport

DATASET_NAME = "spair71k"
FOLDER_NAMES = ("SPair-71k", "spair71k")
ALPHAS = (0.1, 0.05, 0.01)
#: One procedure (Walmer et al.); its size defaults to the backbone's native square.
PRESETS = {"walmer": {"imsize": None, "pairs_per_category": 20}}
PUBLISHED = {"categories": 18, "images": 1800, "test_pairs": 12234}
LAYOUT = (
    "expected layout: <root>/SPair-71k/{JPEGImages,ImageAnnotation}/<category>/ and "
    "<root>/SPair-71k/PairAnnotation/test/<pair>:<category>.json, as unpacked from SPair-71k.tar.gz "
    "(cvlab.postech.ac.kr/research/SPair-71k)"
)


@dataclass
class Pair:
    category: str
    src_image: Path
    trg_image: Path
    src_kps: np.ndarray  # [K, 2] (x, y) in original pixels, zeros where not visible
    trg_kps: np.ndarray
    visible: np.ndarray  # [K] bool, listed in both images
    trg_bbox: np.ndarray  # [x1, y1, x2, y2] from the pair file


def find_root(data_root: str | Path) -> Path:
    for name in FOLDER_NAMES:
        if (Path(data_root) / name / "PairAnnotation").is_dir():
            return Path(data_root) / name
    raise DatasetMissingError(f"{DATASET_NAME}: not found under {data_root}; {LAYOUT}")


def categories(root: Path) -> list[str]:
    # Sorted: os.listdir order (what Walmer used) differs between machines.
    return sorted(p.name for p in (root / "JPEGImages").iterdir() if p.is_dir())


def pair_files(root: Path, category: str, split: str = "test") -> list[Path]:
    folder = root / "PairAnnotation" / split
    # Official names end in ":<cat>.json"; Walmer's glob expected "_<cat>.json".
    files = set(folder.glob(f"*:{category}.json")) | set(folder.glob(f"*_{category}.json"))
    return sorted(files, key=lambda p: p.name)


def num_keypoints(root: Path, category: str, pair: dict) -> int:
    for ann in sorted((root / "ImageAnnotation" / category).glob("*.json"))[:1]:
        return len(json.loads(ann.read_text())["kps"])
    return max(int(i) for i in pair["kps_ids"]) + 1


def load_pair(root: Path, path: Path, category: str) -> Pair:
    d = json.loads(path.read_text())
    k = num_keypoints(root, category, d)
    src, trg = np.zeros((k, 2)), np.zeros((k, 2))
    visible = np.zeros(k, dtype=bool)
    for slot, s, t in zip(d["kps_ids"], d["src_kps"], d["trg_kps"]):
        slot = int(slot)  # ints or numeric strings
        src[slot], trg[slot], visible[slot] = s, t, True
    images = root / "JPEGImages" / category
    return Pair(category, images / d["src_imname"], images / d["trg_imname"], src, trg, visible,
                np.asarray(d["trg_bndbox"], dtype=np.float64))


def sample_pairs(root: Path, per_category: int | None = 20, seed: int = 42) -> list[tuple[str, Path]]:
    """Walmer's sample: one RandomState(seed) (= np.random.seed once), then per sorted
    category ``choice(n, per_category)`` *with replacement*; None/0 keeps every pair."""
    rng = np.random.RandomState(seed)
    chosen = []
    for cat in categories(root):
        files = pair_files(root, cat)
        if not files:
            continue
        idx = rng.choice(len(files), per_category) if per_category else range(len(files))
        chosen += [(cat, files[i]) for i in idx]
    return chosen


# --- geometry -------------------------------------------------------------------
def pad_geometry(width: int, height: int, size: int) -> tuple[float, int, int, int, int]:
    """(scale, new_w, new_h, off_x, off_y) of resize-longer-side-then-centre-pad."""
    scale = size / max(width, height)
    if width >= height:
        new_w, new_h = size, int(round(size * height / width))
        return scale, new_w, new_h, 0, int((size - new_h) / 2)
    new_w, new_h = int(round(size * width / height)), size
    return scale, new_w, new_h, int((size - new_w) / 2), 0


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


def resize_pad(img: Image.Image, size: int) -> Image.Image:
    _, new_w, new_h, ox, oy = pad_geometry(img.width, img.height, size)
    canvas = Image.new("RGB", (size, size))
    canvas.paste(img.resize((new_w, new_h), Image.Resampling.LANCZOS), (ox, oy))
    return canvas


def transform_keypoints(kps: np.ndarray, visible: np.ndarray, width: int, height: int, size: int) -> np.ndarray:
    scale, _, _, ox, oy = pad_geometry(width, height, size)
    out = kps * scale + np.array([ox, oy])
    out[~visible] = 0  # Walmer's (0, 0, vis=0) for keypoints not in the pair
    return out


# --- matching -------------------------------------------------------------------
def sample_upsampled(feats: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, size: int) -> torch.Tensor:
    """Vectors [N, D] of ``F.interpolate(feats, size, bilinear)`` at integer pixels,
    computed without materialising the upsampled map (grid_sample with border
    clamping reproduces interpolate's half-pixel mapping exactly)."""
    gx = (2 * cols.float() + 1) / size - 1
    gy = (2 * rows.float() + 1) / size - 1
    grid = torch.stack([gx, gy], dim=-1).view(1, 1, -1, 2)
    out = F.grid_sample(feats.unsqueeze(0), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, 0].T


def nearest_pixels(vectors: torch.Tensor, feats: torch.Tensor, size: int) -> torch.Tensor:
    """argmax over the upsampled map of <v, feat(pixel)> -> (x, y) [N, 2]. Bilinear
    upsampling is linear, so upsampling the low-res similarity equals the dot product
    with upsampled features; it saves a D x size^2 tensor per image."""
    d, h, w = feats.shape
    sim = (vectors @ feats.reshape(d, h * w)).reshape(-1, 1, h, w)
    if (h, w) != (size, size):
        sim = F.interpolate(sim, size=(size, size), mode="bilinear", align_corners=False)
    idx = sim.flatten(1).argmax(dim=1)
    return torch.stack([idx % size, idx // size], dim=1)


def match_keypoints(src_feats, trg_feats, src_xy: np.ndarray, size: int, mutual: bool = False) -> np.ndarray:
    """Predicted target (x, y) for source keypoints; NaN where ``mutual`` rejects a match.
    feats: L2-normalised patch features [D, h, w]; src_xy: canvas coordinates [N, 2]."""
    rows = torch.from_numpy(np.clip(np.round(src_xy[:, 1]), 0, size - 1)).long()
    cols = torch.from_numpy(np.clip(src_xy[:, 0].astype(np.int64), 0, size - 1)).long()  # int(x): Walmer's quirk
    pred = nearest_pixels(sample_upsampled(src_feats, rows, cols, size), trg_feats, size)
    out = pred.numpy().astype(np.float64)
    if mutual:
        # Our definition: the reverse nearest neighbour must fall in the source keypoint's patch cell.
        back = nearest_pixels(sample_upsampled(trg_feats, pred[:, 1], pred[:, 0], size), src_feats, size)
        h, w = src_feats.shape[1:]
        same_cell = ((back[:, 1] * h // size) == (rows * h // size)) & ((back[:, 0] * w // size) == (cols * w // size))
        out[~same_cell.numpy()] = np.nan
    return out


def pck_summary(correct: dict[str, np.ndarray], total: dict[str, int], alphas=ALPHAS) -> dict:
    """Per category: correct / keypoints pooled over its pairs; then the mean over categories (x100)."""
    per_cat = {c: (100.0 * correct[c] / total[c]).tolist() for c in sorted(total) if total[c] > 0}
    out = {f"pck@{a}": float(np.mean([v[i] for v in per_cat.values()])) if per_cat else float("nan")
           for i, a in enumerate(alphas)}
    out["per_category"] = {c: dict(zip((f"pck@{a}" for a in alphas), v)) for c, v in per_cat.items()}
    return out


@torch.no_grad()
def evaluate(extractor, data_root: str | Path, dataset: str, cfg: dict) -> tuple[dict, int]:
    if cfg.get("preset", "walmer") not in PRESETS:
        raise ValueError(f"unknown correspondence preset '{cfg.get('preset')}'; known: {', '.join(PRESETS)}")
    root = find_root(data_root)
    size = int(cfg.get("imsize") or extractor.image_size)
    per_category = cfg.get("pairs_per_category", 20)
    per_category = None if per_category in (None, 0, "all") else int(per_category)
    alphas = tuple(float(a) for a in cfg.get("alphas", ALPHAS))
    mutual = bool(cfg.get("mutual_nn", False))
    pairs = sample_pairs(root, per_category, int(cfg.get("seed", 42)))
    if not pairs:
        raise DatasetMissingError(f"{DATASET_NAME}: no test pairs under {root}/PairAnnotation/test; {LAYOUT}")
    correct: dict[str, np.ndarray] = {}
    total: dict[str, int] = {}
    chunk = max(1, int(cfg.get("batch_size", 16)) // 2)
    for start in range(0, len(pairs), chunk):  # several pairs per forward pass
        loaded = [load_pair(root, path, cat) for cat, path in pairs[start : start + chunk]]
        imgs = [_rgb(p) for pair in loaded for p in (pair.src_image, pair.trg_image)]
        batch = torch.stack([TF.to_tensor(resize_pad(im, size)) for im in imgs])
        feats = F.normalize(extractor.patches(batch), dim=-1).permute(0, 3, 1, 2).cpu()  # [2n, D, h, w]
        for i, pair in enumerate(loaded):
            src_img, trg_img = imgs[2 * i], imgs[2 * i + 1]
            src = transform_keypoints(pair.src_kps, pair.visible, src_img.width, src_img.height, size)[pair.visible]
            trg = transform_keypoints(pair.trg_kps, pair.visible, trg_img.width, trg_img.height, size)[pair.visible]
            x1, y1, x2, y2 = pair.trg_bbox
            threshold = max(x2 - x1, y2 - y1) * size / max(trg_img.width, trg_img.height)
            pred = match_keypoints(feats[2 * i], feats[2 * i + 1], src, size, mutual)
            dist = np.linalg.norm(pred - trg, axis=1)  # NaN (rejected) compares False below
            hits = np.array([(dist < a * threshold).sum() for a in alphas])
            correct[pair.category] = correct.get(pair.category, 0) + hits
            total[pair.category] = total.get(pair.category, 0) + len(trg)
    metrics = pck_summary(correct, total, alphas)
    metrics.update(num_pairs=len(pairs), num_keypoints=int(sum(total.values())),
                   settings={"imsize": size, "pairs_per_category": per_category, "mutual_nn": mutual})
    return metrics, len(pairs)


def doctor(data_root: str | Path, name: str = DATASET_NAME) -> DoctorReport:
    try:
        root = find_root(data_root)
    except DatasetMissingError as err:
        return DoctorReport(name, "missing", detail=str(err))
    cats = categories(root) if (root / "JPEGImages").is_dir() else []
    counts = {
        "categories": len(cats),
        "images": sum(len(list((root / "JPEGImages" / c).glob("*.jpg"))) for c in cats),
        "test_pairs": len(list((root / "PairAnnotation" / "test").glob("*.json"))),
    }
    if not cats or counts["test_pairs"] == 0 or not (root / "ImageAnnotation").is_dir():
        return DoctorReport(name, "partial", counts, f"JPEGImages, ImageAnnotation or test pairs missing; {LAYOUT}")
    detail = "" if counts == PUBLISHED else f"counts differ from the published {PUBLISHED}"
    return DoctorReport(name, "found", counts, detail)
