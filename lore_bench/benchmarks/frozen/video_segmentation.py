"""Semi-supervised video object segmentation on DAVIS 2017 val by label propagation.

Propagation follows DINO's eval_video_segmentation.py (context = first frame +
queue of recent soft predictions, local window, top-k affinities, temperature);
J and F follow the DAVIS 2017 evaluation (first and last frames skipped, means
pooled over all objects). Our own code; the metric lives in ``vos_metrics``.
"""
from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..base import DatasetMissingError, DoctorReport
from .vos_metrics import evaluate_sequence, summarize

DATASET_NAME = "davis2017"
PUBLISHED = {"val": 30, "train": 60}
LAYOUT = (
    "expected layout: <root>/DAVIS/{JPEGImages,Annotations}/480p/<sequence>/00000.{jpg,png} and "
    "<root>/DAVIS/ImageSets/2017/val.txt, as unpacked from DAVIS-2017-trainval-480p.zip (davischallenge.org)"
)
#: "dino": short side 480, long side floored to a multiple of 64 (854x480 -> 832x480, 52x30
#: patches at /16). "walmer": frames squashed to the backbone's native square (14x14 at 224).
PRESETS = {
    "dino": {"resize": "short_side", "short_side": 480, "multiple": 64},
    "walmer": {"resize": "square", "imsize": None},
}
DEFAULTS = {"n_last_frames": 7, "size_mask_neighborhood": 12, "topk": 5, "temperature": 0.1,
            "split": "val", "batch_size": 8}


def find_root(data_root: str | Path) -> Path:
    for cand in (Path(data_root) / "DAVIS", Path(data_root) / DATASET_NAME / "DAVIS", Path(data_root)):
        if (cand / "ImageSets" / "2017").is_dir() and (cand / "JPEGImages" / "480p").is_dir():
            return cand
    raise DatasetMissingError(f"{DATASET_NAME}: not found under {data_root}; {LAYOUT}")


def sequences(root: Path, split: str = "val") -> list[str]:
    listing = root / "ImageSets" / "2017" / f"{split}.txt"
    if not listing.exists():
        raise DatasetMissingError(f"{DATASET_NAME}: {listing} not found; {LAYOUT}")
    return [s.strip() for s in listing.read_text().splitlines() if s.strip()]


def target_size(width: int, height: int, cfg: dict) -> tuple[int, int]:
    """(w, h) the frames are resized to before the backbone."""
    if cfg["resize"] == "square":
        return int(cfg["imsize"]), int(cfg["imsize"])
    short, multiple = int(cfg["short_side"]), int(cfg["multiple"])
    if height > width:
        return short, int((short * height / width) // multiple * multiple)
    return int((short * width / height) // multiple * multiple), short


def read_frame(path: Path, size: tuple[int, int]) -> torch.Tensor:
    """RGB in [0, 1], bilinear without antialiasing (as cv2.resize INTER_LINEAR)."""
    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    x = torch.from_numpy(rgb).permute(2, 0, 1)
    return F.interpolate(x[None], size=(size[1], size[0]), mode="bilinear", align_corners=False)[0]


def read_annotation(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        seg = np.array(img)
    return np.where(seg == 255, 0, seg).astype(np.uint8)  # void counts as background


def first_labels(seg: np.ndarray, grid: tuple[int, int]) -> torch.Tensor:
    """Frame-0 mask -> one-hot [C, h, w] at patch resolution (C = max id + 1, background included)."""
    small = np.array(Image.fromarray(seg).resize((grid[1], grid[0]), Image.Resampling.NEAREST))
    return F.one_hot(torch.from_numpy(small).long(), int(seg.max()) + 1).permute(2, 0, 1).float()


def neighbourhood(h: int, w: int, radius: int) -> torch.Tensor:
    """[hw_src, hw_tgt] 1 where |d row| <= radius and |d col| <= radius (in patches)."""
    r, c = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    r, c = r.flatten(), c.flatten()
    return (((r[:, None] - r[None]).abs() <= radius) & ((c[:, None] - c[None]).abs() <= radius)).float()


@torch.no_grad()
def propagate(feats: torch.Tensor, labels0: torch.Tensor, cfg: dict) -> Iterator[torch.Tensor]:
    """feats [T, h, w, D] (raw patch tokens), labels0 [C, h, w] -> soft labels [C, h, w]
    for frames 1..T-1."""
    t_len, h, w, d = feats.shape
    feats = F.normalize(feats.reshape(t_len, h * w, d), dim=-1)
    local = neighbourhood(h, w, int(cfg["size_mask_neighborhood"])).to(feats.device)
    first = (feats[0], labels0.reshape(labels0.shape[0], h * w).to(feats.device))
    queue: deque = deque()
    for t in range(1, t_len):
        context = [first, *queue]
        src_feats = torch.cat([f for f, _ in context])
        src_labels = torch.cat([lab for _, lab in context], dim=1)
        aff = torch.exp(src_feats @ feats[t].T / float(cfg["temperature"])) * local.repeat(len(context), 1)
        k = min(int(cfg["topk"]), aff.shape[0])
        kth = aff.topk(k, dim=0).values[-1:]  # per target: the k-th largest; ties are kept
        aff = torch.where(aff >= kth, aff, torch.zeros_like(aff))
        aff = aff / aff.sum(dim=0, keepdim=True)
        labels = src_labels @ aff
        if len(queue) == int(cfg["n_last_frames"]):
            queue.popleft()
        queue.append((feats[t], labels))
        yield labels.reshape(-1, h, w)


def labels_to_mask(labels: torch.Tensor, patch: int, out_hw: tuple[int, int]) -> np.ndarray:
    """Soft labels [C, h, w] -> indexed mask at the original size."""
    up = F.interpolate(labels[None], scale_factor=patch, mode="bilinear", align_corners=False)[0]
    flat = up.flatten(1)
    lo, hi = flat.min(dim=1).values, flat.max(dim=1).values
    scaled = (up - lo[:, None, None]) / (hi - lo).clamp_min(1e-12)[:, None, None]
    up = torch.where((hi > 0)[:, None, None], scaled, up)  # min-max only channels that fire
    seg = up.argmax(dim=0).to(torch.uint8)
    # torch "nearest" uses floor(dst * scale), like cv2's INTER_NEAREST in DINO's code.
    return F.interpolate(seg[None, None].float(), size=out_hw, mode="nearest")[0, 0].to(torch.uint8).cpu().numpy()


def voc_palette() -> list[int]:
    """The PASCAL VOC bit colour map (only the indices matter for scoring)."""
    pal = []
    for i in range(256):
        rgb, c = [0, 0, 0], i
        for bit in range(8):
            for ch in range(3):
                rgb[ch] |= ((c >> ch) & 1) << (7 - bit)
            c >>= 3
        pal += rgb
    return pal


def save_indexed_png(mask: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    img = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.tobytes())
    img.putpalette(voc_palette())
    img.save(path)


def segment_sequence(extractor, root: Path, seq: str, cfg: dict) -> tuple[list[str], list[np.ndarray]]:
    """Predicted indexed masks (original size) for every frame of ``seq``; frame 0 is the GT."""
    frames = sorted((root / "JPEGImages" / "480p" / seq).glob("*.jpg"))
    if not frames:
        raise DatasetMissingError(f"{DATASET_NAME}/{seq}: no frames in {root}/JPEGImages/480p/{seq}; {LAYOUT}")
    first_png = root / "Annotations" / "480p" / seq / f"{frames[0].stem}.png"
    gt0 = read_annotation(first_png)
    with Image.open(frames[0]) as im:
        width, height = im.size
    size = target_size(width, height, cfg)
    p = extractor.patch_size
    feats = torch.cat([
        extractor.patches(torch.stack([read_frame(f, size) for f in frames[i : i + int(cfg["batch_size"])]]))
        for i in range(0, len(frames), int(cfg["batch_size"]))
    ])
    labels0 = first_labels(gt0, (size[1] // p, size[0] // p))
    masks = [gt0] + [labels_to_mask(lab, p, (height, width)) for lab in propagate(feats, labels0, cfg)]
    return [f.stem for f in frames], masks


def resolve(cfg: dict, native_size: int) -> dict:
    preset = cfg.get("preset", "dino")
    if preset not in PRESETS:
        raise ValueError(f"unknown video_segmentation preset '{preset}'; known: {', '.join(PRESETS)}")
    out = {**DEFAULTS, **PRESETS[preset], "preset": preset}
    out.update({k: v for k, v in cfg.items() if k in out or k in ("sequences", "output_dir")})
    if out.get("imsize") is None and out["resize"] == "square":
        out["imsize"] = native_size
    return out


def evaluate(extractor, data_root: str | Path, dataset: str, cfg: dict) -> tuple[dict, int]:
    root = find_root(data_root)
    run = resolve(cfg, extractor.image_size)
    seqs = run.get("sequences") or sequences(root, run["split"])
    out_dir = Path(run["output_dir"]) / run["preset"] if run.get("output_dir") else None
    per_object, frames_scored = [], 0
    for seq in seqs:
        names, masks = segment_sequence(extractor, root, seq, run)
        if out_dir is not None:
            for name, mask in zip(names, masks):
                save_indexed_png(mask, out_dir / seq / f"{name}.png")
        gt_paths = sorted((root / "Annotations" / "480p" / seq).glob("*.png"))
        pred = dict(zip(names, masks))
        missing = [p.stem for p in gt_paths if p.stem not in pred]
        if missing:
            raise DatasetMissingError(f"{DATASET_NAME}/{seq}: annotations without frames: {missing[:3]}; {LAYOUT}")
        gts = [read_annotation(p) for p in gt_paths]
        per_object += [(seq, obj, j, f) for obj, (j, f) in evaluate_sequence(gts, [pred[p.stem] for p in gt_paths]).items()]
        frames_scored += max(len(gt_paths) - 2, 0)
    metrics = summarize(per_object)
    settings = {k: v for k, v in run.items() if k != "output_dir"}
    metrics.update(num_sequences=len(seqs), num_frames_scored=frames_scored, settings=settings,
                   outputs=str(out_dir) if out_dir else None)
    return metrics, len(seqs)


def doctor(data_root: str | Path, name: str = DATASET_NAME) -> DoctorReport:
    try:
        root = find_root(data_root)
        val = sequences(root, "val")
    except DatasetMissingError as err:
        return DoctorReport(name, "missing", detail=str(err))
    have = [s for s in val if any((root / "JPEGImages" / "480p" / s).glob("*.jpg"))
            and (root / "Annotations" / "480p" / s / "00000.png").exists()]
    counts = {"val_sequences": len(val), "val_sequences_present": len(have)}
    if len(have) < len(val):
        return DoctorReport(name, "partial", counts, f"{len(val) - len(have)} val sequences lack frames or annotations; {LAYOUT}")
    detail = "" if len(val) == PUBLISHED["val"] else f"counts differ from the published {PUBLISHED['val']} val sequences"
    return DoctorReport(name, "found", counts, detail)
