"""Which differences are real: confidence intervals, paired tests, ranks (docs/statistics.md).

- A cell's 95 % CI (:func:`cell_interval`): a two-level percentile bootstrap —
  resample the seeds, then the test images (the same image draw for every
  seed: each trial of a dataset is scored on the same images), over the
  per-image correctness every row stores (``test_correct``). Rows written
  before that column existed fall back to seeds + a binomial draw of each
  seed's correct count (documented as such in the table notes).
- Two methods in one cell (:func:`paired_difference`): the same bootstrap of
  the difference (paired by seed and image); "significant" when its 95 %
  interval excludes 0.
- Two methods over many cells: ``scipy.stats.wilcoxon`` on the paired per-seed
  accuracies over datasets x shots x seeds.
- Across datasets: ``scipy.stats.friedmanchisquare`` and the Nemenyi critical
  difference CD = q_alpha sqrt(k (k + 1) / (6 N)) (Demšar 2006, JMLR 7, Sec.
  3.2.2), q_alpha = the studentized range quantile / sqrt(2), which reproduces
  Demšar's Table 5(a) (tested).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..results.correctness import unpack_correct as _unpack
from . import draw_cache

ALPHA = 0.05
N_BOOT = 2000

#: Demšar (2006), Table 5(a): two-tailed Nemenyi q_0.05 for k = 2..10 classifiers.
DEMSAR_Q05 = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102, 10: 3.164}


def correctness(rows: pd.DataFrame) -> np.ndarray | None:
    """[seeds, images] correctness of a cell's rows (one per seed, sorted), or
    None when a row lacks it or the rows were scored on different image counts."""
    if "test_correct" not in rows:
        return None
    by_seed = rows.sort_values("seed")
    return stack_correct(by_seed["test_correct"].to_numpy(object), by_seed["num_eval"].to_numpy(float))


def stack_correct(texts, num_eval) -> np.ndarray | None:
    """[rows, images] correctness of stored ``test_correct`` texts, or None when one
    is missing or the rows were scored on different (or unknown) image counts."""
    counts = np.unique(np.asarray(num_eval, float))
    if any(not isinstance(t, str) for t in texts) or len(counts) != 1 or np.isnan(counts[0]):
        return None
    return np.stack([_unpack(t, int(counts[0])) for t in texts])


def _count_chunks(rng: np.random.Generator, n: int, n_boot: int, chunk: int):
    """The image draws in chunks: [b, n] counts of each image in a resample of n."""
    for start in range(0, n_boot, chunk):
        yield rng.multinomial(n, np.full(n, 1.0 / n), size=min(chunk, n_boot - start))


def _seed_index(rng: np.random.Generator, s: int, n_boot: int, chunk: int) -> np.ndarray:
    """[n_boot, s] resampled seed positions, drawn chunk by chunk as the images are."""
    return np.concatenate([rng.integers(0, s, size=(min(chunk, n_boot - start), s))
                           for start in range(0, n_boot, chunk)])


def _image_draws(rng: np.random.Generator, s: int, n: int, n_boot: int, chunk: int = 250):
    """The bootstrap's draws in chunks: (counts [b, n] of each image drawn, as floats
    holding integers; seed indices [b, s]). Images and seeds come from two streams
    spawned from ``rng``, so a dataset's image draws do not depend on how many
    seeds a cell has (plots/draw_cache.py keeps them per dataset size)."""
    images, seeds = rng.spawn(2)
    index = _seed_index(seeds, s, n_boot, chunk)
    start = 0
    for counts in _count_chunks(images, n, n_boot, chunk):
        yield counts.astype(float), index[start:start + len(counts)]
        start += len(counts)


def _shared_counts(seed: int, n: int, n_boot: int, chunk: int) -> np.ndarray:
    """[n_boot, n] image counts of the draws ``_image_draws(default_rng(seed), ...)`` makes, kept."""
    def make() -> np.ndarray:
        return np.concatenate(list(_count_chunks(np.random.default_rng(seed).spawn(2)[0], n, n_boot, chunk)))
    return draw_cache.cached_counts("images", (seed, n, n_boot, chunk), make)


def _bootstrap_means(matrix: np.ndarray, rng: np.random.Generator, n_boot: int, chunk: int = 250) -> np.ndarray:
    """Bootstrap draws of the mean of ``matrix`` [seeds, images]: each draw
    resamples the seeds and (one draw for all seeds, as they share the images)
    the images, both with replacement."""
    s, n = matrix.shape
    values = matrix.astype(float)
    out = []
    for counts, seeds in _image_draws(rng, s, n, n_boot, chunk):
        # Sum integer counts first, divide once: a difference that is exactly 0 stays
        # 0 (rescaled weights left ±1e-16, which decided "significant" at the boundary).
        per_seed = (counts @ values.T) / n  # [b, seeds]: each seed's accuracy on the drawn images
        out.append(np.take_along_axis(per_seed, seeds, axis=1).mean(axis=1))
    return 100.0 * np.concatenate(out)


def excludes_zero(draws: np.ndarray) -> bool:
    """Whether the 95 % percentile interval of a difference's draws excludes 0.

    np.percentile's answer, decided from the order statistics its linear
    interpolation lies between (one partition): a report asks this ~50 times
    per pair of methods, and the percentile's own overhead was most of the
    cost. Where the two neighbours straddle 0, the percentile itself decides."""
    n = len(draws)
    lo, hi = (n - 1) * ALPHA / 2, (n - 1) * (1 - ALPHA / 2)
    if n < 2 or min(lo % 1, hi % 1) < 1e-6 or max(lo % 1, hi % 1) > 1 - 1e-6:
        return _excludes_zero_by_percentile(draws)  # an index on an integer: no neighbours to bracket it
    i, j = int(lo), int(hi)
    a, b, c, d = np.partition(draws, [i, i + 1, j, j + 1])[[i, i + 1, j, j + 1]]
    if a > 0 or d < 0:
        return True  # the low percentile lies in [a, b], above 0 (or the high one in [c, d], below 0)
    if b <= 0 and c >= 0:
        return False
    return _excludes_zero_by_percentile(draws)


def _excludes_zero_by_percentile(draws: np.ndarray) -> bool:
    low, high = np.percentile(draws, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return bool(low > 0 or high < 0)


def wilcoxon_columns(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """:func:`wilcoxon_p` of each column pair of x and y [blocks, pairs] (no NaN), in one
    scipy call; 1.0 where a column pair ties everywhere, as :func:`wilcoxon_p` says."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    tie = np.array([len(x) == 0 or np.allclose(x[:, k], y[:, k]) for k in range(x.shape[1])], bool)
    p = np.ones(x.shape[1])
    if len(x) and (~tie).any():
        p[~tie] = stats.wilcoxon(x[:, ~tie], y[:, ~tie], zero_method="zsplit", axis=0).pvalue
    return p


@dataclass
class SharedDraws:
    """One cell's image bootstrap, computed with the draws every cell of its
    dataset shares: ``per_seed`` [n_boot, seeds] is each seed's count of correct
    images in each draw of images (exact integers), ``seed_index`` [n_boot, seeds]
    the resampled seeds, ``n`` the images."""
    per_seed: np.ndarray
    seed_index: np.ndarray
    n: int

    def means(self, per_seed: np.ndarray | None = None) -> np.ndarray:
        p = (self.per_seed if per_seed is None else per_seed).astype(float)  # float32 counts: exact integers
        return 100.0 * np.take_along_axis(p, self.seed_index, axis=1).mean(axis=1) / self.n


def shared_image_draws(matrices: dict, n_boot: int = N_BOOT, seed: int = 0,
                       chunk: int = 250) -> dict:
    """:func:`_bootstrap_means` for many cells of one dataset at once.

    Seeded alike, that function draws the same images and seeds for every
    matrix of one shape, and its statistic is linear in the matrix; so the
    draws are made once per dataset size (and kept across grids and processes,
    plots/draw_cache.py), each cell's per-seed counts come from one product, and a
    paired difference is the difference of two cells' counts
    (:func:`paired_from_shared`) instead of a fresh bootstrap per pair. Counts
    are integers (exact in float32 and float64), so two methods that agree on every drawn
    image differ by exactly 0, where a bootstrap of rescaled weights leaves
    rounding noise that can decide "significant" at the boundary."""
    out = {}
    by_size: dict[int, list] = {}
    for key, matrix in matrices.items():
        by_size.setdefault(matrix.shape[1], []).append(key)
    index: dict[int, np.ndarray] = {}  # seed count -> its seed draws (the same for every dataset size)
    for n, keys in by_size.items():
        # One product for all cells of a dataset size (any seed count); float32 is exact here (integer
        # sums below 2**24 images), and each chunk of draws is converted once for all cells.
        values = np.concatenate([matrices[k] for k in keys]).astype(np.float32).T  # [n, sum of seeds]
        counts = _shared_counts(seed, n, n_boot, chunk)
        per_seed = np.concatenate([counts[i:i + chunk].astype(np.float32) @ values for i in range(0, n_boot, chunk)])
        start = 0
        for k in keys:
            s = matrices[k].shape[0]
            if s not in index:
                index[s] = _seed_index(np.random.default_rng(seed).spawn(2)[1], s, n_boot, chunk)
            out[k] = SharedDraws(per_seed[:, start:start + s], index[s], n)
            start += s
    return out


def paired_from_shared(a: SharedDraws, b: SharedDraws) -> bool:
    """Whether the paired image + seed bootstrap of a minus b excludes 0 at 5 %."""
    return excludes_zero(a.means(a.per_seed - b.per_seed))


def paired_from_means(da: np.ndarray, db: np.ndarray) -> bool:
    """:func:`paired_from_shared` from the two cells' draws (``SharedDraws.means``): cells of one
    dataset and seed count share their image and seed draws, so the paired draws of a minus b are
    the difference of the two cells' draws."""
    return excludes_zero(da - db)


def unpaired_from_means(da: np.ndarray, db: np.ndarray) -> bool:
    """Whether the unpaired bootstrap of a minus b (cells on different seeds) excludes 0 at 5 %,
    from the two cells' draws: b's in a fixed shuffled order, so that the two are drawn
    independently (cells of one dataset share their image draws, which would pair them)."""
    return excludes_zero(da - db[np.random.default_rng(1).permutation(len(db))])


def _binomial_means(rows: pd.DataFrame, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    p = rows["top1"].to_numpy(float) / 100.0
    n = rows["num_eval"].fillna(0).to_numpy(int).clip(min=1)
    seeds = rng.integers(0, len(p), size=(n_boot, len(p)))
    draws = rng.binomial(n[seeds], p[seeds]) / n[seeds]
    return 100.0 * draws.mean(axis=1)


@dataclass
class Interval:
    mean: float
    low: float
    high: float
    method: str  # "images+seeds" | "binomial+seeds"


def cell_draws(rows: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> tuple[np.ndarray, str]:
    """Bootstrap draws of a cell's mean top-1 (its rows: one per seed) and how they were drawn."""
    rng = np.random.default_rng(seed)
    matrix = correctness(rows)
    if matrix is not None:
        return _bootstrap_means(matrix, rng, n_boot), "images+seeds"
    return _binomial_means(rows, rng, n_boot), "binomial+seeds"


def interval_of(mean: float, draws: np.ndarray, how: str) -> Interval:
    low, high = np.percentile(draws, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return Interval(float(mean), float(low), float(high), how)


def cell_interval(rows: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> Interval:
    """Mean top-1 of a cell with a 95 % bootstrap interval."""
    draws, how = cell_draws(rows, n_boot, seed)
    return interval_of(float(rows["top1"].mean()), draws, how)


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0,
                      correct: tuple[np.ndarray | None, np.ndarray | None] | None = None) -> tuple[float, bool]:
    """(mean top-1 of a minus b, whether the difference is significant at 5 %):
    a bootstrap of the difference paired by seed and image where both cells
    hold per-image correctness on the same seeds and images, else unpaired.
    ``correct``: ``(correctness(a), correctness(b))`` when the caller has them."""
    rng = np.random.default_rng(seed)
    ma, mb = correct if correct is not None else (correctness(a), correctness(b))
    same_seeds = sorted(a["seed"]) == sorted(b["seed"])
    if ma is not None and mb is not None and ma.shape == mb.shape and same_seeds:
        draws = _bootstrap_means(ma.astype(np.int8) - mb.astype(np.int8), rng, n_boot)
    else:
        da = _bootstrap_means(ma, rng, n_boot) if ma is not None else _binomial_means(a, rng, n_boot)
        db = _bootstrap_means(mb, rng, n_boot) if mb is not None else _binomial_means(b, rng, n_boot)
        draws = da - db
    return float(a["top1"].mean() - b["top1"].mean()), excludes_zero(draws)


def wilcoxon_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of paired samples (1.0 when every pair ties)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) == 0 or np.allclose(x, y):
        return 1.0
    return float(stats.wilcoxon(x, y, zero_method="zsplit").pvalue)


def nemenyi_q(k: int, alpha: float = ALPHA) -> float:
    """Nemenyi's q_alpha for k classifiers: the studentized range quantile / sqrt 2."""
    return float(stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))


@dataclass
class Ranking:
    mean_ranks: pd.Series  # method -> average rank (1 = best)
    n_blocks: int
    statistic: float | None  # Friedman chi-square
    p_value: float | None
    cd: float | None  # Nemenyi critical difference of average ranks


def friedman_nemenyi(scores: pd.DataFrame) -> Ranking:
    """``scores``: blocks (rows: datasets x shots) x methods (columns), complete.
    Ranks within each block (ties share the average rank; higher top-1 = rank 1)."""
    scores = scores.dropna()
    k, n = scores.shape[1], scores.shape[0]
    ranks = scores.rank(axis=1, ascending=False, method="average")
    mean_ranks = ranks.mean().sort_values()
    if k < 3 or n < 2:
        return Ranking(mean_ranks, n, None, None, None)
    stat, p = stats.friedmanchisquare(*[scores[c].to_numpy() for c in scores.columns])
    cd = nemenyi_q(k) * math.sqrt(k * (k + 1) / (6.0 * n))
    return Ranking(mean_ranks, n, float(stat), float(p), float(cd))


def pareto_front(points: dict[str, tuple[float, float]]) -> set[str]:
    """Names of the points no other point beats on both cost (lower) and accuracy (higher)."""
    front = set()
    for name, (cost, acc) in points.items():
        dominated = any(c <= cost and a >= acc and (c < cost or a > acc) for o, (c, a) in points.items() if o != name)
        if not dominated:
            front.add(name)
    return front
