"""The report's statistics: intervals, paired tests, Friedman / Nemenyi, the
tables and figures built on them (plots/stats.py, tables/significance.py, tables/tuned.py)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lore_bench.plots import stats
from lore_bench.plots.aggregate import normalise, ok_rows
from lore_bench.plots.stat_figures import critical_difference, pareto
from lore_bench.plots.tables import REPORT_TABLES
from lore_bench.plots.tables.significance import SignificanceTables
from lore_bench.plots.tables.tuned import TunedVsRecipe
from lore_bench.results.correctness import pack_correct


def test_nemenyi_q_reproduces_demsar_table_5a():
    for k, q in stats.DEMSAR_Q05.items():
        assert stats.nemenyi_q(k) == pytest.approx(q, abs=2e-3)


def test_critical_difference_of_demsars_example():
    # Demšar 2006, Sec. 3.2.2: k = 4 classifiers, N = 14 data sets -> CD = 1.25
    rng = np.random.default_rng(0)
    scores = pd.DataFrame(rng.random((14, 4)), columns=list("abcd"))
    r = stats.friedman_nemenyi(scores)
    assert r.cd == pytest.approx(1.25, abs=0.01) and 0 <= r.p_value <= 1 and r.n_blocks == 14


def _cell(acc: list[float], n: int = 400, seed: int = 0, bits: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s, a in enumerate(acc):
        correct = rng.random(n) < a
        rows.append({"seed": s + 1, "top1": 100 * correct.mean(), "num_eval": n,
                     "test_correct": pack_correct(correct) if bits else None})
    return pd.DataFrame(rows)


def test_cell_interval_covers_the_mean_and_narrows_with_more_images():
    small = stats.cell_interval(_cell([0.7, 0.7], n=100))
    large = stats.cell_interval(_cell([0.7, 0.7], n=4000))
    assert small.low < small.mean < small.high and small.method == "images+seeds"
    assert (large.high - large.low) < (small.high - small.low) / 3
    old = stats.cell_interval(_cell([0.7, 0.72], n=400, bits=False))  # rows without per-image correctness
    assert old.method == "binomial+seeds" and old.low < old.mean < old.high


def test_paired_difference_separates_real_gaps_from_noise():
    a = _cell([0.8, 0.8], seed=1)
    assert stats.paired_difference(a, a)[1] is False
    diff, significant = stats.paired_difference(a, _cell([0.5, 0.5], seed=2))
    assert significant and diff > 20


def test_shared_image_draws_equal_a_bootstrap_per_cell_and_per_pair():
    """The report draws the images once per dataset and combines cells (linear
    statistic); it must give the per-cell and per-pair bootstrap's numbers."""
    cells = {name: _cell(acc, n=300, seed=i) for i, (name, acc) in
             enumerate({"a": [0.7, 0.72, 0.69], "b": [0.71, 0.7, 0.7], "c": [0.5, 0.52, 0.55]}.items())}
    matrices = {k: stats.correctness(v) for k, v in cells.items()}
    shared = stats.shared_image_draws(matrices)
    for k, rows in cells.items():
        np.testing.assert_allclose(shared[k].means(), stats.cell_draws(rows)[0], rtol=0, atol=1e-9)
    for x, y in [("a", "b"), ("a", "c"), ("c", "b")]:
        expected = stats.paired_difference(cells[x], cells[y])[1]
        assert stats.paired_from_shared(shared[x], shared[y]) is expected
        assert stats.paired_from_means(shared[x].means(), shared[y].means()) is expected
    assert stats.paired_from_shared(shared["a"], shared["c"]) and not stats.paired_from_shared(shared["a"], shared["b"])


def test_cells_on_different_seeds_are_compared_unpaired_from_the_shared_draws():
    """Cells whose seeds differ (a failed seed) cannot be paired by seed: the
    report then compares their own draws independently, and must find the
    same real gap and the same non-gap as the unpaired bootstrap per pair."""
    a, same = _cell([0.7, 0.71, 0.69], n=300, seed=0), _cell([0.7, 0.7], n=300, seed=1)
    low = _cell([0.5, 0.52], n=300, seed=2)
    same["seed"] = low["seed"] = [1, 3]
    shared = stats.shared_image_draws({k: stats.correctness(v) for k, v in {"a": a, "same": same, "low": low}.items()})
    for other, name in [(same, "same"), (low, "low")]:
        assert stats.unpaired_from_means(shared["a"].means(), shared[name].means()) is stats.paired_difference(a, other)[1]
    assert stats.unpaired_from_means(shared["a"].means(), shared["low"].means()) \
        and not stats.unpaired_from_means(shared["a"].means(), shared["same"].means())


def test_image_draws_are_made_once_per_dataset_size_and_kept_on_disk(tmp_path, monkeypatch):
    """Every grid of a report, and every later report, resamples a dataset's
    images with the same draws: they are kept in memory and under the cache
    folder (``lore-bench cache`` sees them) and give the same numbers."""
    from lore_bench import caches
    from lore_bench.plots import draw_cache

    monkeypatch.setenv(caches.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(draw_cache, "_MEMORY", {})
    three, two = stats.correctness(_cell([0.7, 0.6, 0.65], n=500)), stats.correctness(_cell([0.7, 0.6], n=500))
    first = stats.shared_image_draws({"a": three})["a"].means()
    np.testing.assert_allclose(first, stats._bootstrap_means(three, np.random.default_rng(0), stats.N_BOOT), atol=1e-9)
    stats.shared_image_draws({"b": two})  # another seed count, same images: the same draws serve it
    assert [e.kind for e in caches.entries(tmp_path)] == ["draws"]
    monkeypatch.setattr(draw_cache, "_MEMORY", {})  # a new process: read back from disk
    np.testing.assert_array_equal(stats.shared_image_draws({"a": three})["a"].means(), first)
    monkeypatch.setattr(draw_cache, "MEMORY_BYTES", 1)  # nothing fits in memory: still equal, still bounded
    monkeypatch.setattr(draw_cache, "_MEMORY", {})
    monkeypatch.setenv(draw_cache.ENABLE_ENV, "0")
    np.testing.assert_array_equal(stats.shared_image_draws({"a": three})["a"].means(), first)
    assert draw_cache._MEMORY == {} and len(caches.entries(tmp_path)) == 1


def test_a_draw_whose_difference_is_exactly_zero_is_zero_not_rounding_noise():
    """Significance asks whether the interval excludes 0, so a draw in which two
    methods' gains and losses balance must be exactly 0. Rescaled bootstrap
    weights left ±1e-16 in half of such draws (and called real reports' ties
    significant at the boundary); integer counts summed first leave none."""
    n = 285
    diff = np.zeros((1, n))
    diff[0, :6], diff[0, 6:12] = 1, -1  # a gains 6 images and loses 6 others
    draws = stats._bootstrap_means(diff, np.random.default_rng(0), 2000)
    balanced = np.abs(draws) < 1e-9
    assert balanced.sum() > 100 and (draws[balanced] == 0).all()
    a, b = np.zeros((1, n)), np.zeros((1, n))
    a[0, :6], b[0, 6:12] = 1, 1
    shared = stats.shared_image_draws({"a": a, "b": b})
    paired = shared["a"].means(shared["a"].per_seed - shared["b"].per_seed)
    assert ((np.abs(paired) < 1e-9) == (paired == 0)).all() and (paired == 0).sum() == balanced.sum()


def test_wilcoxon_and_pareto():
    assert stats.wilcoxon_p([1, 2, 3], [1, 2, 3]) == 1.0
    assert stats.wilcoxon_p(np.arange(10) + 5.0, np.arange(10) * 0.5) < 0.01
    front = stats.pareto_front({"cheap": (1, 50), "dear": (10, 80), "dominated": (10, 40)})
    assert front == {"cheap", "dear"}


def _rows() -> pd.DataFrame:
    """Three methods x two datasets x two seeds, recipe and tuned; m_best is
    clearly better, m_twin and m_twin2 are indistinguishable."""
    rng = np.random.default_rng(3)
    acc = {"m_best": (0.9, 0.92), "m_twin": (0.6, 0.65), "m_twin2": (0.6, 0.65)}
    rows = []
    for protocol in ("few_shot", "tuned"):
        for method, (recipe, tuned) in acc.items():
            for dataset in ("d1", "d2"):
                for seed in (1, 2):
                    a = recipe if protocol == "few_shot" else tuned
                    correct = rng.random(300) < a
                    rows.append({
                        "trial_id": f"{protocol}-{method}-{dataset}-{seed}", "method": method, "dataset": dataset,
                        "backbone": "bb", "protocol": protocol, "stage": "main", "eval_split": "test", "shots": 8,
                        "seed": seed, "status": "ok", "top1": 100 * correct.mean(), "num_eval": 300,
                        "test_correct": pack_correct(correct), "train_seconds": 2.0 if protocol == "few_shot" else 3.0,
                        "search_seconds": 6.0 if protocol == "tuned" else None, "search_configs": 3,
                        "search_epochs": 10, "val_top1": 70.0, "validation": "hold-out 2 of the 8 training shots per class",
                        "tuned_config": json.dumps({"lr": 0.01}), "total_params": 10, "trainable_params": 1,
                        "spec_json": json.dumps({"protocol_config": {"configs": 3, "max_epochs": 4}}),
                        "metrics_json": None, "error": None, "per_class_acc": None})
    return normalise(pd.DataFrame(rows))


def test_grids_drawn_in_batches_give_each_grid_its_own_answers(monkeypatch):
    """The report draws the bootstrap of many grids in one product (batches of
    rows); every grid must read the same intervals and verdicts as alone, and
    a failed seed (cells on different seeds) must not pair them."""
    from lore_bench.plots.tables import significance as sig

    ok = _rows()
    ok = ok[~((ok["method"] == "m_twin2") & (ok["dataset"] == "d2") & (ok["seed"] == 2))]
    alone = {(g.rows["protocol"].iloc[0], m, d): (g.draws(m, d)[0], g.paired("m_best", m, d) if m != "m_best" else None)
             for g in sig.grids(ok) for m, d in g.cells}
    monkeypatch.setattr(sig, "BATCH_ROWS", 10**6)
    (batch,) = list(sig.batches(sig.grids(ok)))
    sig.share_draws(batch)
    assert len(batch) == 2
    for g in batch:
        for m, d in g.cells:
            draws, paired = alone[(g.rows["protocol"].iloc[0], m, d)]
            np.testing.assert_array_equal(g.draws(m, d)[0], draws)
            assert (g.paired("m_best", m, d) if m != "m_best" else None) == paired
            if m != "m_best":  # the grid's shortcut (difference of cached draws) = the bootstrap of the pair
                assert g.paired("m_best", m, d)[1] is stats.paired_difference(g.cells[("m_best", d)], g.cells[(m, d)])[1]
    assert [len(b) for b in sig.batches(sig.grids(ok), max_rows=1)] == [1, 1]  # a grid larger than a batch: alone


def test_report_tables_show_intervals_marks_and_recipe_vs_tuned():
    rows = _rows()
    assert {"significance", "tuned_vs_recipe"} <= set(REPORT_TABLES.names())  # in every `lore-bench report`
    ok = ok_rows(rows)
    tables = {t.name: t for t in SignificanceTables().build(rows, ok) + TunedVsRecipe().build(rows, ok)}
    ci = tables["intervals_tuned_bb_8shot"]
    cells = {r[0].text: r for r in ci.rows}
    assert "[" in cells["m_best"][1].text and cells["m_best"][1].emph == "best"
    assert "†" not in cells["m_best"][1].text  # a real gap: its best mark is significant
    second = [r for r in ci.rows if r[1].emph == "second"][0][1]
    assert second.text.endswith("†")  # the twins: second-best is not better than the third
    wtl = tables["win_tie_loss_tuned_bb_8shot"].data.set_index(["method", "versus"])
    assert wtl.loc[("m_best", "m_twin"), "wins"] == 2 and wtl.loc[("m_twin", "m_twin2"), "ties"] == 2
    assert "friedman_p" in tables["ranks_tuned_bb_8shot"].data
    gap = tables["tuned_vs_recipe_bb_8shot"].data.set_index("method")
    assert gap.loc["m_best", "gap"] == pytest.approx(gap.loc["m_best", "tuned"] - gap.loc["m_best", "recipe"])
    assert gap.loc["m_best", "rank_tuned"] == 1 and gap.loc["m_best", "search_configs"] == 3
    assert "3 configurations x 4 epochs" in " ".join(tables["tuned_vs_recipe_bb_8shot"].notes)


@pytest.mark.slow
def test_statistics_figures_are_written(tmp_path):
    ok = ok_rows(_rows())
    colors = {m: "#123456" for m in ok["method"].unique()}
    assert [p.suffix for p in critical_difference(ok, "bb", colors, tmp_path / "cd")] == [".png", ".pdf"]
    assert [p.suffix for p in pareto(ok, "bb", colors, tmp_path / "pareto")] == [".png", ".pdf"]


def test_fast_verdicts_equal_the_percentile_and_per_pair_wilcoxon():
    """The report's shortcuts (a partition instead of np.percentile, one
    vectorised Wilcoxon for all pairs) must give the definitional answers,
    including draws that straddle 0 and ties."""
    rng = np.random.default_rng(5)
    for shift in np.linspace(-0.3, 0.3, 61):
        for n in (2000, 7, 2):
            draws = np.round(rng.normal(shift, 0.15, n), 2)
            assert stats.excludes_zero(draws) is stats._excludes_zero_by_percentile(draws)
    x = np.round(rng.normal(size=(12, 6)), 1)
    y = np.round(x + rng.normal(0.2, 0.5, size=(12, 6)), 1)
    y[:, 2] = x[:, 2]  # a pair that ties everywhere
    expected = [stats.wilcoxon_p(x[:, k], y[:, k]) for k in range(6)]
    np.testing.assert_array_equal(stats.wilcoxon_columns(x, y), expected)
    from lore_bench.plots.tables import significance as sig
    g = sig.grids(_rows())[0]
    scores = g.seed_scores()
    for a, b in [("m_best", "m_twin"), ("m_twin", "m_twin2")]:
        assert g.wilcoxon(a, b) == stats.wilcoxon_p(scores[a].to_numpy(), scores[b].to_numpy())
