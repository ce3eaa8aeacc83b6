"""Published recipe vs tuned recipe (the tuned protocol, docs/tuned.md): per
method the recipe's accuracy, the tuned accuracy, the gap, the rank under
each, and what the search cost; and the configuration each search chose."""
from __future__ import annotations

import json

import pandas as pd

from ..aggregate import MISSING, PAPER_DATASETS, PAPER_METHODS, fmt_num, ordered
from .builder import REPORT_TABLES, ReportTable
from .cells import Cell, Table, mark_best, slug

TUNED, RECIPE = "tuned", "few_shot"


def paired_cells(ok: pd.DataFrame, backbone: str, shots: int) -> pd.DataFrame:
    """One row per (method, dataset, seed) that has both a recipe and a tuned
    result: recipe_top1, tuned_top1 and the tuned row's search columns."""
    at = ok[(ok["backbone"] == backbone) & (ok["shots"] == shots) & (ok["stage"] == "main")]
    keys = ["method", "dataset", "seed"]
    tuned = at[at["protocol"] == TUNED]
    recipe = at[at["protocol"] == RECIPE][keys + ["top1"]].rename(columns={"top1": "recipe_top1"})
    cols = keys + ["top1", "val_top1", "search_configs", "search_epochs", "search_seconds", "train_seconds",
                   "tuned_config", "validation", "spec_json"]
    tuned = tuned[[c for c in cols if c in tuned]].rename(columns={"top1": "tuned_top1"})
    return tuned.merge(recipe.drop_duplicates(keys), on=keys, how="inner")


def tuned_cells(ok: pd.DataFrame) -> list[tuple[str, int]]:
    t = ok[ok["protocol"] == TUNED]
    return sorted({(b, int(k)) for b, k in zip(t["backbone"], t["shots"])})


def _ranks(means: pd.Series) -> pd.Series:
    return means.rank(ascending=False, method="min")


def recipe_vs_tuned(ok: pd.DataFrame, backbone: str, shots: int) -> Table | None:
    pairs = paired_cells(ok, backbone, shots)
    if pairs.empty:
        return None
    datasets = ordered(pairs["dataset"], PAPER_DATASETS)
    methods = ordered(pairs["method"], PAPER_METHODS)
    # Averages over the datasets every method has (seed means first, as Table 1 does).
    per_ds = pairs.groupby(["method", "dataset"])[["recipe_top1", "tuned_top1"]].mean()
    complete = [m for m in methods if all((m, d) in per_ds.index for d in datasets)]
    avg = per_ds.loc[complete].groupby("method").mean() if complete else per_ds.iloc[0:0]
    rank_recipe, rank_tuned = _ranks(avg["recipe_top1"]), _ranks(avg["tuned_top1"])
    cost = pairs.groupby("method").agg(configs=("search_configs", "mean"), epochs=("search_epochs", "mean"),
                                       seconds=("search_seconds", "mean"), retrain=("train_seconds", "mean"))
    header = ["Method", "Recipe", "Tuned", "Gap", "Rank recipe → tuned",
              *[f"{d} gap" for d in datasets], "Configs", "Epochs run", "Search s / cell"]
    rows, records = [], []
    for m in methods:
        a = avg.loc[m] if m in avg.index else None
        r_rec = a["recipe_top1"] if a is not None else None
        r_tun = a["tuned_top1"] if a is not None else None
        gap = r_tun - r_rec if a is not None else None
        rank = (f"{int(rank_recipe[m])} → {int(rank_tuned[m])}" if m in rank_recipe.index else MISSING)
        ds_gaps = [(per_ds.loc[(m, d), "tuned_top1"] - per_ds.loc[(m, d), "recipe_top1"])
                   if (m, d) in per_ds.index else None for d in datasets]
        c = cost.loc[m]
        rows.append([Cell(m), Cell(fmt_num(r_rec, 2), r_rec), Cell(fmt_num(r_tun, 2), r_tun),
                     Cell(_signed(gap), gap), Cell(rank),
                     *[Cell(_signed(g), g) for g in ds_gaps],
                     Cell(fmt_num(c["configs"], 0)), Cell(fmt_num(c["epochs"], 0)), Cell(fmt_num(c["seconds"], 1))])
        records.append({"method": m, "recipe": r_rec, "tuned": r_tun, "gap": gap,
                        "rank_recipe": rank_recipe.get(m), "rank_tuned": rank_tuned.get(m),
                        **{f"gap_{d}": g for d, g in zip(datasets, ds_gaps)},
                        "search_configs": c["configs"], "search_epochs": c["epochs"],
                        "search_seconds": c["seconds"], "retrain_seconds": c["retrain"]})
    mark_best(rows, [1, 2])
    budget = _budget_note(pairs)
    return Table(
        name=f"tuned_vs_recipe_{slug(backbone)}_{shots}shot",
        title=f"Published recipe vs tuned on the training shots · {shots} shots · backbone {backbone}",
        header=header, rows=rows, data=pd.DataFrame(records).assign(backbone=backbone, shots=shots),
        short=f"Recipe vs tuned {shots}-shot",
        notes=[f"Recipe: the few_shot trial (the method's recipe under the suite's budget); tuned: the best of a "
               f"search on held-out training shots, retrained on all {shots} shots and tested once. Mean over "
               f"seeds, then over the {len(datasets)} datasets every listed method has; gap = tuned − recipe; "
               "ranks by those averages (1 = best).", budget,
               "Configs: configurations tried per cell; epochs run: summed over them (the scheduler stops some "
               "early); search s: train + validation seconds of the search per cell (the final retrain's "
               "seconds are in the efficiency numbers)."],
    )


def _budget_note(pairs: pd.DataFrame) -> str:
    validation = sorted(pairs["validation"].dropna().unique()) if "validation" in pairs else []
    budgets = set()
    for text in pairs.get("spec_json", pd.Series(dtype=object)).dropna():
        pc = json.loads(text).get("protocol_config", {})
        budgets.add(f"{pc.get('configs', 8)} configurations x {pc.get('max_epochs', 10)} epochs under "
                    f"{pc.get('scheduler', 'asha')}")
    return ("Budget per cell, the same for every method: " + ("; ".join(sorted(budgets)) or "not recorded")
            + ". Validation: " + ("; ".join(validation) if validation else "not recorded") + ".")


def _signed(x) -> str:
    return MISSING if x is None or pd.isna(x) else f"{x:+.2f}"


def chosen_configs(ok: pd.DataFrame, backbone: str, shots: int) -> Table | None:
    pairs = paired_cells(ok, backbone, shots)
    if pairs.empty:
        return None
    order = {m: i for i, m in enumerate(ordered(pairs["method"], PAPER_METHODS))}
    pairs = pairs.sort_values(["method", "dataset", "seed"], key=lambda s: s.map(order) if s.name == "method" else s)
    rows = []
    for r in pairs.itertuples():
        chosen = json.loads(r.tuned_config) if isinstance(r.tuned_config, str) else {}
        text = ", ".join(f"{k}={_short(v)}" for k, v in sorted(chosen.items())) or "(recipe: no search)"
        rows.append([Cell(r.method), Cell(r.dataset), Cell(str(r.seed)), Cell(text),
                     Cell(fmt_num(r.val_top1, 1)), Cell(fmt_num(r.tuned_top1, 2)), Cell(fmt_num(r.recipe_top1, 2))])
    return Table(
        name=f"tuned_configs_{slug(backbone)}_{shots}shot",
        title=f"Configurations the searches chose · {shots} shots · backbone {backbone}",
        header=["Method", "Dataset", "Seed", "Chosen configuration", "Validation top-1", "Test top-1 (tuned)",
                "Test top-1 (recipe)"],
        rows=rows, data=pairs.assign(backbone=backbone, shots=shots), short=f"Tuned configs {shots}-shot",
        notes=["Chosen on the held-out training shots only (validation top-1); the test split was scored once, "
               "after the choice."],
    )


def _short(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


@REPORT_TABLES.register()
class TunedVsRecipe(ReportTable):
    name = "tuned_vs_recipe"
    title = "Published recipe vs tuned on the training shots (equal search budget per method), and the gap"
    order = 15
    kind = "paper"

    def build(self, rows: pd.DataFrame, ok: pd.DataFrame) -> list[Table]:
        out = []
        for backbone, shots in tuned_cells(ok):
            out += [t for t in (recipe_vs_tuned(ok, backbone, shots), chosen_configs(ok, backbone, shots)) if t]
        return out
