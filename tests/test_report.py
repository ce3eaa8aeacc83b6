"""The reporting layer on a synthetic store written through ResultsStore.write_trial.

Every number a table shows is recomputed here from the raw rows with plain
pandas; the LaTeX, plots and HTML are checked for form (booktabs, balanced,
escaped; real PNG/PDF files; no external resource)."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lore_bench.plots.aggregate import ReportError
from lore_bench.plots.figures import PLOTS
from lore_bench.plots.published import load_published
from lore_bench.plots.render.latex import tex_escape
from lore_bench.plots.report import build_report, markdown_summary
from lore_bench.results import ResultsStore

BACKBONE = "clip_vit_b16_openai"  # has published figures, so measured-vs-published is exercised
DATASETS = ["cifar10", "dtd", "eurosat", "my_data_set"]  # the last is not in the paper: escaping, ordering
METHODS = {"linear_probe": 2_000, "coop": 8_192, "lore": 5_000_000}
SHOTS, SEEDS = [1, 4, 16], [1, 2, 3]
FAILED = {("coop", "dtd", 4, 2): "RuntimeError: CUDA out of memory & more_text",
          **{("linear_probe", "eurosat", 16, s): "ValueError: split_zhou_eurosat.json missing" for s in SEEDS}}
DIVERGED = {("lore", "cifar10", 1, 3): "loss is NaN at epoch 3"}


def _row(method, dataset, shots, seed, top1, protocol="few_shot", stage="main", status="ok", error=None,
         backbone=BACKBONE):
    tid = hashlib.sha256(f"{backbone}{method}{dataset}{shots}{seed}{protocol}".encode()).hexdigest()[:16]
    trainable = METHODS.get(method, 0)
    return {
        "trial_id": tid, "suite": "synthetic", "task": "classification", "method": method, "backbone": backbone,
        "dataset": dataset, "protocol": protocol, "stage": stage, "eval_split": "test", "shots": shots,
        "seed": seed, "status": status, "error": error, "top1": top1 if status == "ok" else None,
        "trainable_params": trainable, "total_params": 150_000_000 + trainable,
        "train_seconds": 0.0 if shots == 0 else 10.0 * shots * (1 + np.log10(trainable + 1)),
        "eval_seconds": 5.0, "train_images_per_s": 100.0 + seed, "eval_images_per_s": 400.0,
        "peak_memory_mb": 900.0 + seed, "device": "cpu", "lore_bench_version": "0.1.0",
    }


def write_synthetic_store(root: Path) -> None:
    rng = np.random.default_rng(0)
    store = ResultsStore(root)
    for i, ds in enumerate(DATASETS):
        store.write_trial([_row("zeroshot_clip", ds, 0, 1, 40.0 + 5 * i)])
        for j, method in enumerate(METHODS):
            for shots in SHOTS:
                for seed in SEEDS:
                    key = (method, ds, shots, seed)
                    top1 = 45.0 + 5 * i + 3 * j + 4 * np.log2(shots) + rng.normal(0, 1.0)
                    if key in FAILED:
                        store.write_trial([_row(*key, None, status="failed", error=FAILED[key])])
                    elif key in DIVERGED:
                        store.write_trial([_row(*key, None, status="diverged", error=DIVERGED[key])])
                    else:
                        store.write_trial([_row(*key, float(top1))])
        for method, m_ap in (("zeroshot_clip", 0.40), ("lore", 0.45)):  # frozen features: no top-1
            if i == 0:
                for seed in SEEDS[:2]:
                    row = _row(method, "roxford5k", 0, seed, None, protocol="frozen_features")
                    row.update(task="retrieval", eval_split="roxford5k/walmer", metrics_json=json.dumps(
                        {"mAP_medium": m_ap + seed / 100, "table4": {"mAP_medium": m_ap + seed / 100}}))
                    store.write_trial([row])
        for method in ("coop", "lore"):
            for seed in SEEDS[:2]:
                easy = 50.0 + 5 * i + rng.normal(0, 1)
                hard = easy + (2.0 if method == "lore" else -1.0) + rng.normal(0, 0.3)
                store.write_trial([_row(method, ds, 16, seed, easy, "easy_to_hard", "easy"),
                                   _row(method, ds, 16, seed, hard, "easy_to_hard", "hard")])


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    write_synthetic_store(root)
    out = tmp_path_factory.mktemp("report")
    summary = build_report(root, out)
    return root, out, summary, ResultsStore(root).trials()


def _ok(raw: pd.DataFrame, **equal) -> pd.DataFrame:
    """The ok rows of the raw store whose columns equal ``equal``."""
    sel = raw["status"] == "ok"
    for col, val in equal.items():
        sel &= raw[col] == val
    return raw[sel]


def test_table1_equals_pandas_on_raw_rows(report):
    _, out, _, raw = report
    table = pd.read_csv(out / "tables" / f"table1_{BACKBONE.replace('_', '-')}_16shot.csv")
    fs = _ok(raw, protocol="few_shot", shots=16)
    expected = fs.groupby(["method", "dataset"])["top1"].agg(["mean", "std", "count"])
    got = table[table["dataset"] != "Average"].dropna(subset=["shots"]).set_index(["method", "dataset"])
    for key, exp in expected.iterrows():
        assert got.loc[key, "mean"] == pytest.approx(exp["mean"])
        assert got.loc[key, "std"] == pytest.approx(exp["std"])
        assert got.loc[key, "n_seeds"] == exp["count"]
    # Average: the mean over datasets of the per-dataset means; std over seeds of per-seed averages.
    coop = fs[fs["method"] == "coop"]
    avg = table[(table["row"] == "coop") & (table["dataset"] == "Average")].iloc[0]
    assert avg["mean"] == pytest.approx(coop.groupby("dataset")["top1"].mean().mean())
    assert avg["std"] == pytest.approx(coop.pivot_table(index="seed", columns="dataset", values="top1").mean(axis=1).std())
    md = (out / "tables" / f"table1_{BACKBONE.replace('_', '-')}_16shot.md").read_text()
    exp = expected.loc[("coop", "cifar10")]
    assert f"{exp['mean']:.2f} ± {exp['std']:.2f}" in md
    zs = _ok(raw, method="zeroshot_clip").set_index("dataset")["top1"]
    assert f"| zeroshot_clip (0-shot) | {zs['cifar10']:.2f} |" in md.replace("**", "").replace("<u>", "").replace("</u>", "")


def test_frozen_feature_table(report):
    _, out, _, raw = report
    table = pd.read_csv(out / "tables" / f"table4_{BACKBONE.replace('_', '-')}.csv").set_index("method")
    frozen = raw[raw["task"] == "retrieval"]
    expected = frozen.groupby("method")["metrics_json"].apply(
        lambda s: pd.Series([json.loads(t)["table4"]["mAP_medium"] for t in s]).mean())
    for method, value in expected.items():
        assert table.loc[method, "mean"] == pytest.approx(value)
    md = (out / "tables" / f"table1_{BACKBONE.replace('_', '-')}_16shot.md").read_text()
    assert "roxford5k" not in md  # frozen-feature rows never leak into the classification tables


def test_missing_cells_and_bold_best(report):
    _, out, _, raw = report
    md = (out / "tables" / f"table1_{BACKBONE.replace('_', '-')}_16shot.md").read_text()
    lp = next(line for line in md.splitlines() if line.startswith("| linear_probe |"))
    cells = [c.strip() for c in lp.strip("|").split("|")]
    assert cells[1 + DATASETS.index("eurosat")] == "–"  # every seed failed
    assert cells[-1] == "–"  # so no comparable average either
    # lore has the highest synthetic accuracy at 16 shots: bold in every dataset column.
    lore = next(line for line in md.splitlines() if line.startswith("| lore |"))
    assert lore.count("**") == 2 * (len(DATASETS) + 1)
    md4 = (out / "tables" / f"table1_{BACKBONE.replace('_', '-')}_4shot.md").read_text()
    assert "(n=2)" in md4  # coop/dtd lost one seed, and says so


def test_easy_to_hard_table(report):
    _, out, _, raw = report
    table = pd.read_csv(out / "tables" / f"table3_{BACKBONE.replace('_', '-')}_16shot.csv")
    e2h = _ok(raw, protocol="easy_to_hard")
    expected = e2h.groupby(["method", "stage", "dataset"])["top1"].mean()
    got = table[table["dataset"] != "Average"].set_index(["method", "stage", "dataset"])["mean"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    md = (out / "tables" / f"table3_{BACKBONE.replace('_', '-')}_16shot.md").read_text()
    lore = e2h[e2h["method"] == "lore"].groupby(["stage", "dataset"])["top1"].mean().groupby("stage").mean()
    assert f"{lore['hard'] - lore['easy']:+.2f}" in md


def test_failed_and_diverged_listed(report):
    _, out, summary, raw = report
    failed = pd.read_csv(out / "tables" / "failed_trials.csv")
    assert len(failed) == len(FAILED) + len(DIVERGED)
    assert set(failed["status"]) == {"failed", "diverged"}
    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    for text in ["loss is NaN at epoch 3", "split_zhou_eurosat.json missing"]:
        assert text in html and text in md
    assert "CUDA out of memory &amp; more_text" in html
    assert "1 diverged" in summary.text and "4 failed" in summary.text


def test_measured_vs_published(report):
    _, out, _, raw = report
    cmp = pd.read_csv(out / "tables" / "measured_vs_published.csv")
    pub = load_published()
    row = cmp[(cmp["method"] == "coop") & (cmp["dataset"] == "cifar10") & (cmp["shots"] == 16)].iloc[0]
    published = pub[(pub["table"] == "Table 1") & (pub["method"] == "coop") & (pub["dataset"] == "cifar10")
                    & (pub["shots"] == 16)]["value"].item()
    measured = _ok(raw, method="coop", dataset="cifar10", shots=16, protocol="few_shot")["top1"].mean()
    assert row["published"] == pytest.approx(published)
    assert row["delta"] == pytest.approx(measured - published)
    zs = cmp[(cmp["method"] == "zeroshot_clip") & (cmp["dataset"] == "dtd")].iloc[0]
    assert zs["shots"] == 0 and not np.isnan(zs["measured_mean"])
    assert "flowers102" not in set(cmp["dataset"])  # never run: counted in a note, not 13 rows of dashes
    assert cmp[cmp["dataset"] == "average_12"]["measured_mean"].isna().all()  # 4 of 12 datasets: no average
    md = (out / "tables" / "measured_vs_published.md").read_text()
    assert "| average_12 | 59.34 | – | – |" in md and "never ran are not listed" in md
    assert "publishes no figure for linear_probe:" in md  # a measured method beyond the paper is named
    assert (cmp["method"] != "maple").all()  # methods never run are not listed


def _strip_tex_escapes(tex: str) -> str:
    return re.sub(r"\\[{}_&%$#]", "", tex)


def test_latex_booktabs_and_well_formed(report):
    _, out, _, _ = report
    files = sorted((out / "tables").glob("*.tex")) + [out / "report.tex"]
    assert len(files) > 4
    for path in files:
        tex = path.read_text()
        bare = _strip_tex_escapes(tex)
        assert bare.count("{") == bare.count("}"), path
        stack = []
        for kind, env in re.findall(r"\\(begin|end)\{(\w+)\}", tex):
            if kind == "begin":
                stack.append(env)
            else:
                assert stack and stack.pop() == env, (path, env)
        assert not stack, (path, stack)
        assert not re.search(r"[_#]", bare), path  # every underscore and hash escaped
        assert "%" not in bare.replace("{%\n", "{\n"), path  # only the deliberate line-end comment
        assert bare.count("$") % 2 == 0, path  # math mode opened and closed
        if "tabular" in tex or "longtable" in tex:
            assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex and "\\hline" not in tex
        assert "my\\_data\\_set" in tex or "my_data_set" not in tex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_compiles(report):
    _, out, _, _ = report
    work = Path(tempfile.mkdtemp())
    shutil.copytree(out, work, dirs_exist_ok=True)
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
                          cwd=work, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_every_plot_is_a_real_image(report):
    _, out, summary, _ = report
    for name in PLOTS:
        png, pdf = out / "figures" / f"{name}.png", out / "figures" / f"{name}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000, png
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1_000, pdf
        assert png in summary.paths


def test_html_is_self_contained(report):
    _, out, _, _ = report
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert not re.search(r"<link\b|<script\b|@import|url\(", html, re.I)
    srcs = re.findall(r"""src="([^"]{0,40})""", html)
    assert len(srcs) == len(PLOTS) and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "last epoch reported, no test-set selection" in html
    assert 'class="missing">–<' in html


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="chromium not installed")
def test_html_renders_in_headless_chromium(report, tmp_path):
    _, out, _, _ = report
    shot = tmp_path / "shot.png"
    cmd = ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,2000",
           f"--screenshot={shot}", (out / "report.html").resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=180)
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_markdown_summary_for_the_terminal(report):
    _, _, _, raw = report
    text = markdown_summary(raw)
    for k in SHOTS:
        assert f"{k}-shot" in text
    coop = _ok(raw, method="coop", shots=1, dataset="cifar10")["top1"]
    assert f"{coop.mean():.2f} ± {coop.std():.2f}" in text
    assert "**" not in text and "<u>" not in text
    assert "5 trial(s) failed or diverged" in text  # 4 failed + 1 diverged
    assert markdown_summary(raw.iloc[0:0]) == "No results in the store yet."


def test_errors_for_empty_store_and_unknown_suite(tmp_path, report):
    root, _, _, _ = report
    with pytest.raises(ReportError, match="no results store"):
        build_report(tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(ReportError, match="suites there"):
        build_report(root, tmp_path / "out", suite="other")
    with pytest.raises(ValueError, match="unknown report format"):
        build_report(root, tmp_path / "out", formats=("pdf",))


def test_formats_subset_and_trials_dir(report, tmp_path):
    root, _, _, _ = report
    summary = build_report(root / "trials", tmp_path, formats=("csv",))
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "report.md").exists()
    assert list((tmp_path / "tables").glob("*.csv")) and all(p.exists() for p in summary.paths)


def test_partial_stores_two_backbones_one_seed_all_failed(tmp_path):
    root = tmp_path / "store"
    store = ResultsStore(root)
    for backbone in ("micro_clip", "micro_clip_random"):
        for ds in ("sklearn_digits", "mnist"):
            store.write_trial([_row("coop", ds, 4, 1, 60.0, backbone=backbone)])
    store.write_trial([_row("lore", "mnist", 4, 1, None, status="failed", error="boom", backbone="micro_clip")])
    summary = build_report(root, tmp_path / "out")
    names = {p.name for p in summary.paths}
    assert {"fewshot-curves-micro-clip.png", "fewshot-curves-micro-clip-random.png"} <= names
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| coop | 60.00 | 60.00 | 60.00 |" in md and "| lore | – | – | – |" in md
    assert "No published figure matches" in md
    for tex in (tmp_path / "out").rglob("*.tex"):
        assert not re.search(r"[_#]", _strip_tex_escapes(tex.read_text())), tex
    # Nothing ok at all: the report still lists the failure and writes no plot.
    only_failed = tmp_path / "failed"
    ResultsStore(only_failed).write_trial([_row("coop", "mnist", 4, 1, None, status="failed", error="boom")])
    summary = build_report(only_failed, tmp_path / "out2")
    assert not list((tmp_path / "out2").glob("figures/*")) and "1 failed" in summary.text
    assert "boom" in (tmp_path / "out2" / "report.html").read_text()


def test_tex_escape():
    assert tex_escape("a_b & 50% #1 {x} ~ ^ \\ ± –") == (
        r"a\_b \& 50\% \#1 \{x\} \textasciitilde{} \textasciicircum{} \textbackslash{} $\pm$ --")


def test_table4_shows_the_paper_rows_for_a_published_backbone():
    import json

    import pandas as pd

    from lore_bench.plots.tables.frozen import frozen_tables

    rows = pd.DataFrame([
        {"backbone": "clip_vit_b16_openai", "method": m, "task": "retrieval", "status": "ok", "seed": 0,
         "eval_split": "roxford5k/walmer", "metrics_json": json.dumps({"table4": {"mAP_medium": v}})}
        for m, v in (("zeroshot_clip", 0.39), ("lore", 0.41))])
    (table,) = frozen_tables(rows)
    texts = [[c.text for c in r] for r in table.rows]
    assert texts[-2] == ["paper: baseline", "0.397"] and texts[-1] == ["paper: + LORE White Box", "0.418"]


def test_two_recipes_of_a_method_in_one_store_are_two_rows_and_other_clashes_are_warned(tmp_path):
    """Suites with `recipe: authors` and `recipe: corrected` writing into one store
    meet in the same cells and seeds: the tables must show one method per recipe,
    not average the two as seeds. Two configurations of one recipe (a --set
    override) cannot be told apart by name: the report says so."""
    store = ResultsStore(tmp_path)
    for seed in (1, 2):
        for recipe, top1 in (("authors", 50.0), ("corrected", 70.0)):
            row = _row("coop", "dtd", 4, seed, top1 + seed)
            store.write_trial([{**row, "trial_id": f"{recipe}-{seed}", "recipe": recipe}])
        store.write_trial([{**_row("lore", "dtd", 4, seed, 60.0), "recipe": "authors"}])
    summary = build_report(tmp_path, tmp_path / "out", formats=("md",))
    table = (tmp_path / "out" / "tables" / "table1_clip-vit-b16-openai_4shot.md").read_text()
    assert "| coop (authors) | 51.50 ± 0.71 |" in table and "| coop (corrected) | **71.50 ± 0.71** |" in table
    assert "| lore |" in table and "WARNING" not in summary.text  # a method with one recipe keeps its name

    store.write_trial([{**_row("lore", "dtd", 4, 1, 80.0), "trial_id": "lore-lr-override", "recipe": "authors"}])
    summary = build_report(tmp_path, tmp_path / "out", formats=("md",))
    assert "WARNING: 1 (cell, seed) pairs hold results of more than one configuration (e.g. lore on dtd, 4 shots, " \
           "seed 1" in summary.text
    assert "--suite NAME" in (tmp_path / "out" / "report.md").read_text()


def test_figures_drawn_in_worker_processes_equal_those_drawn_in_one(tmp_path):
    """A store of many backbones draws each backbone's figures in a forked
    worker; the files must be the same bytes as drawn in this process."""
    store = ResultsStore(tmp_path / "store")
    for b, backbone in enumerate(["bb_a", "bb_b", "bb_c"]):
        for method in ("zeroshot_clip", "coop", "lore"):
            for shots in ((0,) if method == "zeroshot_clip" else (1, 4)):
                for seed in (1, 2):
                    store.write_trial([_row(method, "dtd", shots, seed, 40.0 + b + shots + seed, backbone=backbone)])
    serial = build_report(tmp_path / "store", tmp_path / "serial", formats=("md",), jobs=1)
    forked = build_report(tmp_path / "store", tmp_path / "forked", formats=("md",), jobs=3)
    names = sorted(p.relative_to(tmp_path / "serial") for p in serial.paths if p.suffix in (".png", ".pdf"))
    assert len(names) >= 6 and names == sorted(p.relative_to(tmp_path / "forked") for p in forked.paths
                                               if p.suffix in (".png", ".pdf"))
    for name in names:
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "forked" / name).read_bytes(), name
    assert (tmp_path / "serial" / "report.md").read_text() == (tmp_path / "forked" / "report.md").read_text()
