"""Image retrieval on revisited Oxford / Paris (ROxford5k, RParis6k) with the CLS token.

Protocol: DINO's eval_image_retrieval.py (k-NN on L2-normalised CLS features,
queries not cropped to their box) scored with the revisited-protocol mAP of
Radenovic et al. (Medium and Hard) and mP@k. Our own implementation; the trapezoid
AP below is *not* sklearn's average precision.
"""
from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image, ImageFile
from torchvision.transforms import InterpolationMode

from ..base import DatasetMissingError, DoctorReport

DATASET_NAMES = ("roxford5k", "rparis6k")
PUBLISHED_COUNTS = {"roxford5k": (4993, 70), "rparis6k": (6322, 70)}
_IMAGES_FROM = {
    "roxford5k": "VGG's oxbuild_images-v1.tgz (Oxford Buildings)",
    "rparis6k": "VGG's paris_1-v1.tgz and paris_2-v1.tgz (Paris Buildings; flatten the sub-folders)",
}
#: Walmer et al.: thumbnail, resize + centre crop to the native size (LORE's fixed grid).
#: DINO's README: ROxford 224 px single scale, RParis 512 px multi-scale, no crop.
PRESETS = {
    "walmer": {"resize": "thumbnail_crop", "imsize": None, "multiscale": False},
    "dino": {"resize": "thumbnail", "imsize": None, "multiscale": None},
}
DINO_DEFAULTS = {"roxford5k": (224, False), "rparis6k": (512, True)}
SCALES = (1.0, 1 / math.sqrt(2), 0.5)
PROTOCOLS = ("medium", "hard")
DEFAULT_KS = (1, 5, 10)


@dataclass
class RevisitedDataset:
    name: str
    root: Path
    imlist: list[str]  # database image names, no extension
    qimlist: list[str]
    gnd: list[dict]  # per query: bbx, easy, hard, junk (int indices into imlist)

    def image_path(self, name: str) -> Path:
        return self.root / "jpg" / f"{name}.jpg"


def layout_help(name: str, data_root: Path) -> str:
    return (
        f"expected layout: {data_root}/{name}/gnd_{name}.pkl and {data_root}/{name}/jpg/<name>.jpg "
        f"(database and query images). gnd_{name}.pkl comes from the revisitop project "
        f"(data/datasets/{name}/ of CMP's revisitop); images from {_IMAGES_FROM[name]}."
    )


def load_revisited(data_root: str | Path, name: str) -> RevisitedDataset:
    if name not in DATASET_NAMES:
        raise ValueError(f"unknown retrieval dataset '{name}'; known: {', '.join(DATASET_NAMES)}")
    data_root = Path(data_root)
    pkl = data_root / name / f"gnd_{name}.pkl"
    if not pkl.exists():
        raise DatasetMissingError(f"{name}: ground truth {pkl} not found; {layout_help(name, data_root)}")
    with open(pkl, "rb") as f:
        cfg = pickle.load(f)
    gnd = []
    for g in cfg["gnd"]:  # lists or numpy arrays, depending on who pickled it
        entry = {k: [int(i) for i in np.asarray(g.get(k, []), dtype=np.int64).ravel()] for k in ("easy", "hard", "junk")}
        entry["bbx"] = [float(v) for v in np.asarray(g.get("bbx", []), dtype=np.float64).ravel()]
        gnd.append(entry)
    return RevisitedDataset(name, data_root / name, [str(s) for s in cfg["imlist"]], [str(s) for s in cfg["qimlist"]], gnd)


def doctor(data_root: str | Path, name: str) -> DoctorReport:
    try:
        ds = load_revisited(data_root, name)
    except DatasetMissingError as err:
        return DoctorReport(name, "missing", detail=str(err))
    names = ds.imlist + ds.qimlist
    present = sum(ds.image_path(n).exists() for n in names)
    counts = {"database": len(ds.imlist), "queries": len(ds.qimlist), "images_present": present}
    if present < len(names):
        return DoctorReport(name, "partial", counts, f"{len(names) - present} JPEGs missing; {layout_help(name, Path(data_root))}")
    detail = "" if (len(ds.imlist), len(ds.qimlist)) == PUBLISHED_COUNTS[name] else (
        f"counts differ from the published {PUBLISHED_COUNTS[name]} (database, queries)"
    )
    return DoctorReport(name, "found", counts, detail)


# --- the metric -----------------------------------------------------------------
def average_precision(ranked_positions: np.ndarray, n_ok: int) -> float:
    """Trapezoid AP from the sorted 0-based (junk-adjusted) ranks of the positives."""
    ap = 0.0
    for j, r in enumerate(ranked_positions):
        precision_before = 1.0 if r == 0 else j / r
        precision_after = (j + 1) / (r + 1)
        ap += (precision_before + precision_after) / 2
    return ap / n_ok


def compute_map(ranks: np.ndarray, ground_truth: list[tuple[list[int], list[int]]], ks=DEFAULT_KS):
    """ranks [n_db, n_q] (column q: database indices, best first); ground_truth: per query
    (ok, junk). Returns (mAP, per-query AP with NaN for queries without positives, mP@k)."""
    aps = np.full(len(ground_truth), np.nan)
    precisions = np.full((len(ground_truth), len(ks)), np.nan)
    for q, (ok, junk) in enumerate(ground_truth):
        if len(ok) == 0:
            continue  # nothing to find: left out of the mean
        order = ranks[:, q]
        pos = np.flatnonzero(np.isin(order, ok))
        junk_pos = np.flatnonzero(np.isin(order, junk))
        # Junk is ignored: each positive moves up by the junk ranked above it.
        pos = pos - np.searchsorted(junk_pos, pos)
        aps[q] = average_precision(pos, len(ok))
        one_based = pos + 1
        for i, k in enumerate(ks):
            kq = min(int(one_based.max()), k)
            precisions[q, i] = (one_based <= kq).sum() / kq
    scored = ~np.isnan(aps)
    mean_ap = float(aps[scored].mean()) if scored.any() else float("nan")
    mean_p = precisions[scored].mean(axis=0) if scored.any() else np.full(len(ks), np.nan)
    return mean_ap, aps, mean_p


def protocol_ground_truth(gnd: list[dict], protocol: str) -> list[tuple[list[int], list[int]]]:
    if protocol == "easy":
        return [(g["easy"], g["junk"] + g["hard"]) for g in gnd]
    if protocol == "medium":
        return [(g["easy"] + g["hard"], g["junk"]) for g in gnd]
    if protocol == "hard":
        return [(g["hard"], g["junk"] + g["easy"]) for g in gnd]
    raise ValueError(f"unknown protocol '{protocol}'; known: easy, medium, hard")


def rank_database(db: torch.Tensor, queries: torch.Tensor) -> np.ndarray:
    """L2-normalised features -> ranks [n_db, n_q], most similar first (stable on ties)."""
    sim = (F.normalize(db, dim=-1) @ F.normalize(queries, dim=-1).T).cpu().numpy()
    return np.argsort(-sim, axis=0, kind="stable")


def score(ranks: np.ndarray, gnd: list[dict], ks=DEFAULT_KS) -> dict:
    metrics = {}
    for protocol in PROTOCOLS:
        gt = protocol_ground_truth(gnd, protocol)
        m, aps, mp = compute_map(ranks, gt, ks)
        metrics[f"mAP_{protocol}"] = m
        metrics.update({f"mP@{k}_{protocol}": float(v) for k, v in zip(ks, mp)})
        metrics[f"queries_scored_{protocol}"] = int((~np.isnan(aps)).sum())
    return metrics


# --- the procedure --------------------------------------------------------------
def load_rgb(path: Path) -> Image.Image:
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # a few Paris JPEGs are truncated
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def preprocess(img: Image.Image, imsize: int, resize: str, bbx=None) -> torch.Tensor:
    if bbx is not None and len(bbx) == 4:
        img = img.crop(tuple(int(round(v)) for v in bbx))
    img.thumbnail((imsize, imsize))  # longer side <= imsize, aspect kept, never upscales
    if resize == "thumbnail_crop":
        img = TF.center_crop(TF.resize(img, imsize, InterpolationMode.BICUBIC), imsize)
    elif resize != "thumbnail":
        raise ValueError(f"unknown resize '{resize}'; known: thumbnail, thumbnail_crop")
    return TF.to_tensor(img)


@torch.no_grad()
def describe(extractor, images: Iterable[torch.Tensor], multiscale: bool, batch_size: int = 16) -> torch.Tensor:
    """Global descriptors [N, D]: CLS, optionally averaged over SCALES, L2-normalised.
    ``images`` is consumed lazily (a full database does not fit in memory); runs of
    equal-sized images are batched, thumbnails of other sizes go one by one."""
    out: list[torch.Tensor] = []
    scales = SCALES if multiscale else (1.0,)

    def flush(batch: list[torch.Tensor]) -> None:
        x = torch.stack(batch)
        v = sum(
            extractor.cls(x if s == 1.0 else F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False))
            for s in scales
        ) / len(scales)
        out.append(F.normalize(v, dim=-1).cpu())
        batch.clear()

    batch: list[torch.Tensor] = []
    for img in images:
        if batch and (img.shape != batch[0].shape or len(batch) == batch_size):
            flush(batch)
        batch.append(img)
    if batch:
        flush(batch)
    return torch.cat(out)


def resolve(cfg: dict, dataset: str, native_size: int) -> dict:
    """A preset plus the protocol_config's overrides -> the full procedure settings."""
    preset = cfg.get("preset", "walmer")
    if preset not in PRESETS:
        raise ValueError(f"unknown retrieval preset '{preset}'; known: {', '.join(PRESETS)}")
    out = {**PRESETS[preset], "preset": preset, "crop_query": False, "ks": list(DEFAULT_KS), "batch_size": 16}
    out.update({k: cfg[k] for k in ("resize", "imsize", "multiscale", "crop_query", "ks", "batch_size") if k in cfg})
    dino_size, dino_ms = DINO_DEFAULTS[dataset]
    if out["imsize"] is None:
        out["imsize"] = dino_size if preset == "dino" else native_size
    if out["multiscale"] is None:
        out["multiscale"] = dino_ms
    return out


def evaluate(extractor, data_root: str | Path, dataset: str, cfg: dict) -> tuple[dict, int]:
    ds = load_revisited(data_root, dataset)
    run = resolve(cfg, dataset, extractor.image_size)
    size, resize = int(run["imsize"]), run["resize"]
    db = (preprocess(load_rgb(ds.image_path(n)), size, resize) for n in ds.imlist)
    queries = (
        preprocess(load_rgb(ds.image_path(n)), size, resize, g["bbx"] if run["crop_query"] else None)
        for n, g in zip(ds.qimlist, ds.gnd)
    )
    multiscale, batch_size = bool(run["multiscale"]), int(run["batch_size"])
    ranks = rank_database(describe(extractor, db, multiscale, batch_size), describe(extractor, queries, multiscale, batch_size))
    metrics = score(ranks, ds.gnd, tuple(run["ks"]))
    metrics.update(num_database=len(ds.imlist), num_queries=len(ds.qimlist), settings=run)
    return metrics, len(ds.qimlist)
