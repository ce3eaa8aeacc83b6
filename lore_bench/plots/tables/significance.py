"""Which differences are real (plots/stats.py, docs/statistics.md): per
protocol and shot count, every cell with its 95 % bootstrap interval and
best / second-best marks that say when they are not significant; the
win/tie/loss matrix; pairwise Wilcoxon p-values; Friedman ranks with the
Nemenyi critical difference."""
from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations

import numpy as np
import pandas as pd

from .. import stats
from ..aggregate import MISSING, PAPER_DATASETS, PAPER_METHODS, ordered
from .builder import REPORT_TABLES, ReportTable
from .cells import Cell, Table, mark_best, slug

PROTOCOLS = {"few_shot": "recipe", "tuned": "tuned"}
NOT_SIGNIFICANT = "†"


class CellRows(Mapping):
    """(method, dataset) -> that cell's rows (one per seed, by seed), made on first use: a grid's
    statistics read numpy columns (Grid.mean, Grid.correct); only the fallbacks need a frame."""

    def __init__(self, rows: pd.DataFrame, at: dict):
        self._rows, self._at, self._made = rows, at, {}

    def __getitem__(self, key):
        if key not in self._made:
            self._made[key] = self._rows.iloc[self._at[key]]
        return self._made[key]

    def __contains__(self, key) -> bool:
        return key in self._at

    def __iter__(self):
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)


class Grid:
    """The ok rows of one (backbone, shots, protocol): methods x datasets, seeds inside.
    ``rows``: those rows when the caller has split them already (:func:`grids`)."""

    def __init__(self, ok: pd.DataFrame, backbone: str, shots: int, protocol: str,
                 rows: pd.DataFrame | None = None):
        sel = rows if rows is not None else ok[(ok["backbone"] == backbone) & (ok["shots"] == shots)
                                               & (ok["protocol"] == protocol) & (ok["stage"] == "main")]
        sel = sel.sort_values(["method", "dataset", "seed"], kind="stable")
        self.rows = sel
        self.datasets = ordered(sel["dataset"], PAPER_DATASETS)
        self.methods = ordered(sel["method"], PAPER_METHODS)
        self._at = sel.groupby(["method", "dataset"], sort=False).indices  # cell -> row positions
        self.cells = CellRows(sel, self._at)
        self._top1 = sel["top1"].to_numpy(float)
        self._seed = sel["seed"].to_numpy(int)
        self._bits = sel["test_correct"].to_numpy(object) if "test_correct" in sel else None
        self._n_eval = sel["num_eval"].to_numpy(float) if "num_eval" in sel else None
        self._draws: dict = {}
        # The tables below ask for the same pair many times (each direction, each
        # table); every answer is a pure function of the cells, so it is kept.
        self._wilcoxon: dict[frozenset, float] = {}
        self._paired: dict[tuple[str, str, str], tuple[float, bool]] = {}
        self._correct: dict[tuple[str, str], np.ndarray | None] = {}
        self._boot: dict[str, dict] = {}

    def mean(self, method: str, dataset: str) -> float:
        """The cell's top-1, mean over its seeds."""
        return float(self._top1[self._at[(method, dataset)]].mean())

    def seeds(self, method: str, dataset: str) -> tuple[int, ...]:
        return tuple(self._seed[self._at[(method, dataset)]])

    def draws(self, method: str, dataset: str):
        if (method, dataset) not in self._draws:
            shared = self._shared(dataset).get(method)
            self._draws[(method, dataset)] = ((shared.means(), "images+seeds") if shared is not None
                                              else stats.cell_draws(self.cells[(method, dataset)]))
        return self._draws[(method, dataset)]

    def _shared(self, dataset: str) -> dict:
        """The image bootstrap of every cell of ``dataset`` that stores per-image
        correctness, drawn once for all of them (stats.shared_image_draws), unless
        :func:`share_draws` drew them for a batch of grids."""
        if dataset not in self._boot:
            matrices = {m: self.correct(m, dataset) for m in self.methods if (m, dataset) in self.cells}
            self._boot[dataset] = stats.shared_image_draws({m: x for m, x in matrices.items() if x is not None})
        return self._boot[dataset]

    def release(self) -> None:
        """Drop the bootstrap draws (the tables are built): a store's grids are not all held at once."""
        self._boot, self._draws, self._correct = {}, {}, {}

    def complete(self) -> list[str]:
        return [m for m in self.methods if all((m, d) in self.cells for d in self.datasets)]

    def seed_scores(self) -> pd.DataFrame:
        """Top-1 per (dataset, seed) x method (the pairs of a Wilcoxon test), NaN where missing."""
        if not hasattr(self, "_scores"):
            self._scores = self.rows.pivot_table(index=["dataset", "seed"], columns="method", values="top1",
                                                 aggfunc="mean")
        return self._scores

    def wilcoxon(self, a: str, b: str) -> float:
        """Two-sided, so one p per unordered pair, over the (dataset, seed) pairs both methods have."""
        key = frozenset((a, b))
        if not self._wilcoxon:
            self._wilcoxon_complete()
        if key not in self._wilcoxon:
            scores = self.seed_scores()
            x, y = scores[a].to_numpy(), scores[b].to_numpy()
            both = ~(np.isnan(x) | np.isnan(y))
            self._wilcoxon[key] = stats.wilcoxon_p(x[both], y[both])
        return self._wilcoxon[key]

    def _wilcoxon_complete(self) -> None:
        """Every pair of methods that have every (dataset, seed), in one vectorised test."""
        scores = self.seed_scores()
        full = [m for m in scores.columns if not scores[m].isna().any()]
        pairs = list(combinations(full, 2))
        if pairs:
            values = scores[full].to_numpy(float)
            col = {m: k for k, m in enumerate(full)}
            p = stats.wilcoxon_columns(values[:, [col[a] for a, _ in pairs]], values[:, [col[b] for _, b in pairs]])
            self._wilcoxon.update({frozenset(pair): float(v) for pair, v in zip(pairs, p)})

    def correct(self, method: str, dataset: str) -> np.ndarray | None:
        """stats.correctness of a cell, from the grid's columns (its rows are sorted by seed)."""
        key = (method, dataset)
        if key not in self._correct:
            at = self._at[key]
            self._correct[key] = (None if self._bits is None or self._n_eval is None
                                  else stats.stack_correct(self._bits[at], self._n_eval[at]))
        return self._correct[key]

    def paired(self, a: str, b: str, dataset: str) -> tuple[float, bool]:
        """stats.paired_difference of two cells (seeded: the same answer every time),
        from the dataset's shared image draws where both cells have them."""
        key = (a, b, dataset)
        if key in self._paired:
            return self._paired[key]
        diff = self.mean(a, dataset) - self.mean(b, dataset)
        shared = self._shared(dataset)
        sa, sb = shared.get(a), shared.get(b)
        if sa is not None and sb is not None:
            same = sa.per_seed.shape == sb.per_seed.shape and self.seeds(a, dataset) == self.seeds(b, dataset)
            verdict = stats.paired_from_means if same else stats.unpaired_from_means
            result = (diff, verdict(self.draws(a, dataset)[0], self.draws(b, dataset)[0]))
        else:
            result = stats.paired_difference(self.cells[(a, dataset)], self.cells[(b, dataset)],
                                             correct=(self.correct(a, dataset), self.correct(b, dataset)))
        self._paired[key] = result
        return result

    def block_scores(self) -> pd.DataFrame:
        """Datasets (blocks) x methods of seed-mean top-1, complete methods only."""
        m = self.complete()
        return self.rows[self.rows["method"].isin(m)].pivot_table(index="dataset", columns="method",
                                                                  values="top1", aggfunc="mean")[m]


#: Rows of per-image correctness whose bootstrap is drawn in one product (share_draws): ~0.6 GB of
#: float32 draws and values at 2,000 draws; the grids of a larger store are taken in batches.
BATCH_ROWS = 20_000


def grids(ok: pd.DataFrame) -> list[Grid]:
    out = []
    main = ok[ok["protocol"].isin(list(PROTOCOLS)) & (ok["stage"] == "main")]
    for protocol in PROTOCOLS:
        p = main[main["protocol"] == protocol]
        for (backbone, shots), rows in sorted(p.groupby(["backbone", "shots"]), key=lambda kv: (kv[0][0], int(kv[0][1]))):
            g = Grid(ok, backbone, int(shots), protocol, rows=rows)
            if len(g.methods) >= 2:
                out.append(g)
    return out


def batches(all_grids: list[Grid], max_rows: int = BATCH_ROWS):
    """The grids in order, a list at a time holding at most ``max_rows`` rows (a larger grid alone)."""
    batch, rows = [], 0
    for g in all_grids:
        if batch and rows + len(g.rows) > max_rows:
            yield batch
            batch, rows = [], 0
        batch.append(g)
        rows += len(g.rows)
    if batch:
        yield batch


def share_draws(batch: list[Grid]) -> None:
    """The image bootstrap of every cell of a batch of grids in one product per
    dataset size (every grid draws a dataset's images alike; stats.shared_image_draws)."""
    matrices = {}
    for i, g in enumerate(batch):
        for m, d in g.cells:
            if (x := g.correct(m, d)) is not None:
                matrices[(i, m, d)] = x
    shared = stats.shared_image_draws(matrices)
    for g in batch:
        g._boot = {d: {} for d in g.datasets}
    for (i, m, d), draws in shared.items():
        batch[i]._boot[d][m] = draws


def _name(g: Grid, what: str) -> str:
    return f"{what}_{PROTOCOLS[g.rows['protocol'].iloc[0]]}_{slug(g.rows['backbone'].iloc[0])}_{int(g.rows['shots'].iloc[0])}shot"


def _label(g: Grid) -> str:
    r = g.rows.iloc[0]
    return f"{PROTOCOLS[r['protocol']]} · {int(r['shots'])} shots · backbone {r['backbone']}"


def interval_table(g: Grid) -> Table:
    complete = g.complete()
    header = ["Method", *g.datasets, "Average"]
    rows, records, how_used = [], [], set()
    for m in g.methods:
        row = [Cell(m)]
        for d in g.datasets:
            if (m, d) not in g.cells:
                row.append(Cell(MISSING))
                continue
            draws, how = g.draws(m, d)
            how_used.add(how)
            iv = stats.interval_of(g.mean(m, d), draws, how)
            row.append(Cell(f"{iv.mean:.2f} [{iv.low:.1f}, {iv.high:.1f}]", iv.mean))
            records.append({"method": m, "dataset": d, "mean": iv.mean, "low": iv.low, "high": iv.high,
                            "n_seeds": len(g.seeds(m, d)), "ci": how})
        if m in complete:
            draws = np.mean([g.draws(m, d)[0] for d in g.datasets], axis=0)
            mean = float(np.mean([g.mean(m, d) for d in g.datasets]))
            iv = stats.interval_of(mean, draws, "")
            row.append(Cell(f"{iv.mean:.2f} [{iv.low:.1f}, {iv.high:.1f}]", iv.mean))
            records.append({"method": m, "dataset": "Average", "mean": iv.mean, "low": iv.low, "high": iv.high})
        else:
            row.append(Cell(MISSING))
        rows.append(row)
    columns = list(range(1, len(header)))
    mark_best(rows, columns)
    _flag_not_significant(g, rows, columns)
    return Table(
        name=_name(g, "intervals"), title=f"Top-1 with 95 % confidence intervals · {_label(g)}",
        header=header, rows=rows, data=pd.DataFrame(records), short=f"CIs {_label(g).split(' · backbone')[0]}",
        notes=[f"Mean over seeds [95 % percentile bootstrap, {stats.N_BOOT} draws]: "
               + ("seeds and test images resampled together (per-image correctness)" if how_used <= {"images+seeds"}
                  else "seeds resampled; images by a binomial draw where per-image correctness is not stored")
               + "; Average: the mean of the per-dataset draws.",
               f"{NOT_SIGNIFICANT} on a best (second-best) mark: not significantly better than the next method "
               "at 5 % (per dataset: the paired bootstrap interval of the difference contains 0; Average: "
               "two-sided Wilcoxon signed-rank over datasets x seeds)."],
    )


def _flag_not_significant(g: Grid, rows: list[list[Cell]], columns: list[int]) -> None:
    datasets = g.datasets + ["Average"]
    for col in columns:
        d = datasets[col - 1]
        ranked = sorted((i for i in range(len(rows)) if rows[i][col].value is not None),
                        key=lambda i: -rows[i][col].value)
        for pos, i in enumerate(ranked[:2]):
            if not rows[i][col].emph or pos + 1 >= len(ranked):
                continue
            a, b = g.methods[i], g.methods[ranked[pos + 1]]
            if d == "Average":
                significant = g.wilcoxon(a, b) < stats.ALPHA
            else:
                significant = g.paired(a, b, d)[1]
            if not significant:
                rows[i][col].text += f" {NOT_SIGNIFICANT}"


def win_tie_loss(g: Grid) -> Table:
    """Row method vs column method over the datasets: significant wins / ties / significant losses."""
    methods = g.methods
    outcome: dict[tuple[str, str], list[int]] = {}
    for a, b in combinations(methods, 2):
        w = t = l = 0
        for d in g.datasets:
            if (a, d) not in g.cells or (b, d) not in g.cells:
                continue
            diff, significant = g.paired(a, b, d)
            if not significant:
                t += 1
            elif diff > 0:
                w += 1
            else:
                l += 1
        outcome[(a, b)], outcome[(b, a)] = [w, t, l], [l, t, w]
    rows, records = [], []
    for a in methods:
        row = [Cell(a)]
        for b in methods:
            if a == b:
                row.append(Cell("·"))
                continue
            w, t, l = outcome[(a, b)]
            row.append(Cell(f"{w}/{t}/{l}"))
            records.append({"method": a, "versus": b, "wins": w, "ties": t, "losses": l,
                            "wilcoxon_p": g.wilcoxon(a, b)})
        rows.append(row)
    return Table(name=_name(g, "win_tie_loss"), title=f"Win / tie / loss over datasets · {_label(g)}",
                 header=["Method vs", *methods], rows=rows, data=pd.DataFrame(records),
                 short=f"W/T/L {_label(g).split(' · backbone')[0]}",
                 notes=["Row method against column method, over the datasets: a win or a loss only when the paired "
                        "bootstrap 95 % interval of the difference (seeds and test images) excludes 0, else a tie. "
                        "The CSV adds each pair's two-sided Wilcoxon signed-rank p over datasets x seeds."])


def wilcoxon_table(g: Grid) -> Table:
    methods = g.methods
    rows = []
    for a in methods:
        rows.append([Cell(a)] + [Cell("·" if a == b else f"{g.wilcoxon(a, b):.3f}") for b in methods])
    n = len(g.rows.groupby(["dataset", "seed"]))
    return Table(name=_name(g, "wilcoxon"), title=f"Paired Wilcoxon signed-rank p-values · {_label(g)}",
                 header=["p", *methods], rows=rows, data=pd.DataFrame(
                     [{"method": a, "versus": b, "p": g.wilcoxon(a, b)} for a in methods for b in methods if a != b]),
                 short=f"Wilcoxon {_label(g).split(' · backbone')[0]}",
                 notes=[f"scipy.stats.wilcoxon (two-sided, zero differences split) on the per-seed top-1 paired over "
                        f"datasets x seeds ({n} pairs at most). With fewer than 6 pairs no p can fall below 0.05: "
                        "more seeds or datasets are needed before a difference can be called significant."])


def ranking_table(g: Grid) -> Table | None:
    scores = g.block_scores()
    if scores.shape[1] < 2 or scores.shape[0] < 1:
        return None
    r = stats.friedman_nemenyi(scores)
    rows = [[Cell(m), Cell(f"{rank:.2f}", -rank)] for m, rank in r.mean_ranks.items()]
    mark_best(rows, [1])
    if r.cd is not None:
        verdict = (f"Friedman χ² = {r.statistic:.2f}, p = {r.p_value:.3g} over {r.n_blocks} datasets; Nemenyi "
                   f"critical difference at 5 %: {r.cd:.2f} (Demšar 2006): methods whose average ranks differ by "
                   "less are not significantly different.")
    else:
        verdict = f"Friedman test needs at least 3 methods and 2 datasets (here {scores.shape[1]} and {r.n_blocks})."
    return Table(name=_name(g, "ranks"), title=f"Average rank over datasets (Friedman / Nemenyi) · {_label(g)}",
                 header=["Method", "Average rank"], rows=rows,
                 data=pd.DataFrame({"method": r.mean_ranks.index, "mean_rank": r.mean_ranks.values,
                                    "friedman_chi2": r.statistic, "friedman_p": r.p_value, "cd": r.cd,
                                    "n_datasets": r.n_blocks}),
                 short=f"Ranks {_label(g).split(' · backbone')[0]}",
                 notes=["Rank 1 = best top-1 (seed mean) on a dataset, ties share the average rank; only methods with "
                        "every dataset.", verdict])


@REPORT_TABLES.register()
class SignificanceTables(ReportTable):
    name = "significance"
    title = "Confidence intervals, significance of best marks, win/tie/loss, Wilcoxon, Friedman/Nemenyi ranks"
    order = 16
    kind = "paper"

    def build(self, rows: pd.DataFrame, ok: pd.DataFrame) -> list[Table]:
        out = []
        for batch in batches(grids(ok)):
            share_draws(batch)
            for g in batch:
                out += [interval_table(g), win_tie_loss(g), wilcoxon_table(g)]
                if (ranks := ranking_table(g)) is not None:
                    out.append(ranks)
                g.release()
        return out
