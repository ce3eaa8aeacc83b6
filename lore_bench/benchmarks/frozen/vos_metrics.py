"""DAVIS region (J) and boundary (F) measures, as defined by the DAVIS 2017 evaluation.

Our own numpy/scipy implementation. Boundary matching uses a Euclidean distance
transform instead of a disk dilation: a pixel is inside ``dilate(B, disk(d))``
exactly when its squared distance to B is at most d^2, and the transform, cropped
to the boundaries' bounding box, is far cheaper than dilating a 854x480 frame.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import ndimage

BOUNDARY_FRACTION = 0.008  # of the image diagonal


def boundary_tolerance(shape: tuple[int, int], fraction: float = BOUNDARY_FRACTION) -> int:
    """d = ceil(fraction * diagonal): 8 px at 854x480."""
    return int(fraction) if fraction >= 1 else int(math.ceil(fraction * math.hypot(*shape)))


def seg2bmap(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary: differs from its right, lower or lower-right neighbour.
    The last row compares only to the right, the last column only downward, and
    the bottom-right pixel is never a boundary."""
    m = mask.astype(bool)
    b = np.zeros_like(m)
    b[:-1, :-1] = (m[:-1, :-1] != m[:-1, 1:]) | (m[:-1, :-1] != m[1:, :-1]) | (m[:-1, :-1] != m[1:, 1:])
    b[-1, :-1] = m[-1, :-1] != m[-1, 1:]
    b[:-1, -1] = m[:-1, -1] != m[1:, -1]
    b[-1, -1] = False
    return b


def disk(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius


def _near(a: np.ndarray, b: np.ndarray, radius: int) -> int:
    """|a & dilate(b, disk(radius))| for non-empty boolean maps a, b."""
    ys, xs = np.nonzero(a | b)
    crop = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    # Every pixel of b lies in the crop, so distances from a's pixels are exact there.
    dist = ndimage.distance_transform_edt(~b[crop])
    return int((a[crop] & (dist <= radius)).sum())


def jaccard(pred: np.ndarray, gt: np.ndarray) -> float:
    union = np.logical_or(pred, gt).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, gt).sum() / union)


def f_measure(pred: np.ndarray, gt: np.ndarray, fraction: float = BOUNDARY_FRACTION) -> float:
    radius = boundary_tolerance(pred.shape, fraction)
    bp, bg = seg2bmap(pred), seg2bmap(gt)
    n_p, n_g = int(bp.sum()), int(bg.sum())
    if n_p == 0 and n_g > 0:
        precision, recall = 1.0, 0.0
    elif n_p > 0 and n_g == 0:
        precision, recall = 0.0, 1.0
    elif n_p == 0 and n_g == 0:
        precision, recall = 1.0, 1.0
    else:
        precision, recall = _near(bp, bg, radius) / n_p, _near(bg, bp, radius) / n_g
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def statistics(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, recall = share above 0.5, decay = first quarter minus last quarter)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins
        mean, recall = np.nanmean(values), np.nanmean(values > 0.5)
        # +1e-10: numpy rounds halves to even; the DAVIS toolkit's bins round them up.
        ids = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(np.int64)
        bins = [values[ids[i] : ids[i + 1] + 1] for i in range(4)]
        decay = np.nanmean(bins[0]) - np.nanmean(bins[3])
    return float(mean), float(recall), float(decay)


def evaluate_sequence(gts: list[np.ndarray], preds: list[np.ndarray], skip_first_last: bool = True):
    """Per object k = 1..N (N = max id of the first GT frame): (J per frame, F per frame).
    GT 255 must already be mapped to 0. Objects missing from a prediction count as empty."""
    if len(gts) != len(preds):
        raise ValueError(f"{len(gts)} ground-truth frames but {len(preds)} predictions")
    n_obj = int(gts[0].max())
    frames = range(1, len(gts) - 1) if skip_first_last else range(len(gts))
    out = {k: (np.zeros(len(frames)), np.zeros(len(frames))) for k in range(1, n_obj + 1)}
    for i, t in enumerate(frames):
        gt, pred = gts[t], preds[t]
        if gt.shape != pred.shape:
            raise ValueError(f"frame {t}: prediction {pred.shape} vs ground truth {gt.shape}")
        if pred.max(initial=0) > n_obj:
            raise ValueError(f"frame {t}: predicted object id {int(pred.max())} but the sequence has {n_obj} objects")
        for k, (j, f) in out.items():
            j[i] = jaccard(pred == k, gt == k)
            f[i] = f_measure(pred == k, gt == k)
    return out


def summarize(per_object: list[tuple[str, int, np.ndarray, np.ndarray]]) -> dict:
    """Means over *all objects* (pooled across sequences, not averaged per sequence), x100."""
    rows, stats = [], {"J": [], "F": []}
    for seq, obj, j, f in per_object:
        sj, sf = statistics(j), statistics(f)
        stats["J"].append(sj)
        stats["F"].append(sf)
        rows.append({"sequence": seq, "object": int(obj), "J": 100 * sj[0], "F": 100 * sf[0]})
    out: dict = {}
    for name in ("J", "F"):
        arr = np.array(stats[name], dtype=np.float64).reshape(-1, 3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for col, label in enumerate(("mean", "recall", "decay")):
                out[f"{name}_{label}"] = float(100 * np.nanmean(arr[:, col])) if len(arr) else float("nan")
    out["J&F_mean"] = (out["J_mean"] + out["F_mean"]) / 2
    out["num_objects"] = len(rows)
    out["per_object"] = rows
    return out
