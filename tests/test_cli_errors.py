"""Every bad input of issue 13 gets a clear one-screen answer (exit 2, the
culprit named, no traceback); internal errors still show theirs, and say so.
Runs `lore-bench` in-process; nothing here starts Ray."""
from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_inprocess import DEFAULT_SUITE, assert_clear_error, run_cli

S = str(DEFAULT_SUITE)
DEFAULT_TEXT = DEFAULT_SUITE.read_text()

BILLION_LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip([None, *"abcdefgh"], "abcdefghi"))


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    """A regression here must fail, not start a Ray cluster."""
    import lore_bench.suite.orchestrate as orchestrate

    def refuse(*args, **kwargs):
        raise AssertionError("Ray would have been started")

    monkeypatch.setattr(orchestrate, "run_suite", refuse)


def suite_file(tmp_path, text: str | bytes, name="suite.yaml") -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


# -- files that are not what they seem --------------------------------------------------

def test_bytes_that_are_not_utf8(tmp_path):
    path = suite_file(tmp_path, DEFAULT_TEXT.encode().replace(b"name: default", b"name: d\xffefault"))
    assert_clear_error(run_cli(["validate", path]), f"{path}:", "UTF-8")


def test_billion_laughs_fails_fast(tmp_path):
    path = suite_file(tmp_path, BILLION_LAUGHS)
    t0 = time.monotonic()
    result = run_cli(["validate", path])
    assert time.monotonic() - t0 < 5
    assert_clear_error(result, path, "aliases")


def test_a_huge_file_is_refused_before_parsing(tmp_path):
    path = suite_file(tmp_path, DEFAULT_TEXT + "#" * (2 << 20))
    assert_clear_error(run_cli(["validate", path]), path, "KiB")


@pytest.mark.parametrize("entry", ["coop: 3", "coop: [1, 2]", "coop: hello"])
def test_a_method_entry_that_is_not_a_mapping(tmp_path, entry):
    path = suite_file(tmp_path, DEFAULT_TEXT.replace("coop: {}", entry))
    assert_clear_error(run_cli(["validate", path]), f"{path}:15", "methods.coop", "mapping")


def test_a_key_written_twice(tmp_path):
    path = suite_file(tmp_path, DEFAULT_TEXT.replace("  coop: {}\n", "  coop: {}\n  coop: {n_ctx: 4}\n"))
    assert_clear_error(run_cli(["validate", path]), f"{path}:16", "twice", "line 15")


# -- values that were accepted but wrong ---------------------------------------------------

@pytest.mark.parametrize("old, new, field, expected", [
    ("  epochs: 10", "  epochs: -3", "training.epochs", ">= 0"),
    ("seeds: [1, 2]", "seeds: []", "protocol.seeds", "empty"),
    ("shots: [1, 4, 16]", "shots: []", "protocol.shots", "empty"),
    ("datasets: [sklearn_digits, mnist, textures, locality]", "datasets: []", "datasets", "empty"),
    ("backbones: [micro_clip]", "backbones: []", "backbones", "empty"),
    ("lr: 0.01, min_lr", "lr: 0, min_lr", "methods.lore.training.lr", "> 0"),
    ("batch_size: 8", "batch_size: 0", "methods.cocoop.training.batch_size", ">= 1"),
    ("eval_subset: 500", "eval_subset: -1", "protocol.eval_subset", ">= 0"),
    ("  retries: 1", "  retries: -2", "resources.retries", ">= 0"),
    ("  cpu: 1", "  cpu: 0", "resources.cpu", "> 0"),
    ("dashboard_host: 127.0.0.1", "dashboard_port: 99999", "ray.dashboard_port", "1, 65535"),
    ("  epochs: 10", "  epochs: .nan", "training.epochs", "finite"),
    ("  epochs: 10", "  epochs: 2020-01-01", "training.epochs", "date"),
    ("coop: {}", "coop: {n_ctx: -4}", "methods.coop.n_ctx", ">= 0"),
    ("coop: {}", "coop: {n_ctx: four}", "methods.coop.n_ctx", "integer"),
    ("coop: {}", "coop: {plugin: 3}", "methods.coop.plugin", "string"),
    ("protocol:\n", "protocol: 3\nx:\n", "protocol", "mapping"),
])
def test_values_out_of_range_or_of_the_wrong_kind(tmp_path, old, new, field, expected):
    assert old in DEFAULT_TEXT
    path = suite_file(tmp_path, DEFAULT_TEXT.replace(old, new, 1))
    result = run_cli(["validate", path])
    assert_clear_error(result, path, field, expected)
    assert "fix:" in result.err


@pytest.mark.parametrize("flag, value, expected", [
    ("--num-cpus", "0", ">= 1"), ("--dashboard-port", "99999", "1..65535"), ("--retries", "-5", ">= 0"),
    ("--max-concurrent", "-1", ">= 0"), ("--num-cpus", "two", "integer"),
])
def test_flags_out_of_range(tmp_path, flag, value, expected):
    result = run_cli(["run", S, "--dry-run", "--results", tmp_path, flag, value])
    assert_clear_error(result, flag, expected, value)


def test_set_a_value_out_of_range_names_the_set():
    result = run_cli(["validate", S, "--set", "training.epochs=-3"])
    assert_clear_error(result, "--set 'training.epochs=-3'", "training.epochs", ">= 0")
    assert f"{S}:" not in result.err  # not blamed on a line of the file


# -- broken override syntax ----------------------------------------------------------------

@pytest.mark.parametrize("override, expected", [
    ("training.epochs=[1", "not valid YAML"),
    ("=5", "empty"),
    ("training..epochs=5", "empty part"),
    ("training.epochs", "no '='"),
    ("training.epochs.x=1", "not a mapping"),
    ("protocol.seeds.7=1", "position"),
])
def test_set_syntax_errors_are_reported_against_the_set(override, expected):
    result = run_cli(["validate", S, "--set", override])
    assert_clear_error(result, f"--set '{override}'", expected)
    assert f"{S}:" not in result.err
    assert len(result.err.splitlines()) <= 3


def test_only_errors_do_not_repeat_their_prefix(tmp_path):
    result = run_cli(["run", S, "--dry-run", "--results", tmp_path, "--only", "colour=red"])
    assert_clear_error(result, "--only 'colour=red'", "unknown key 'colour'", "method, dataset")
    assert result.err.count("--only") == 1 + result.err.count("e.g. --only")


# -- filters that match nothing ------------------------------------------------------------

@pytest.mark.parametrize("only, expected", [
    ("method=nonexistent", "valid method values here: bitfit, clip_adapter"),
    ("dataset=mnst", "did you mean 'mnist'"),
    ("shots=abc", "expected an integer"),
    ("shots=abc", "0, 1, 4, 8, 16"),
    ("method=coop,lorre", "did you mean 'lore'"),
    ("method=zeroshot_clip,shots=4", "no trial matches them all"),
    ("method=", "no value"),
    (",", "no KEY=VALUE"),
])
def test_a_filter_that_selects_nothing_names_the_valid_values(tmp_path, only, expected):
    result = run_cli(["run", S, "--dry-run", "--results", tmp_path, "--only", only])
    assert_clear_error(result, f"--only '{only}'", expected)


def test_a_filter_that_selects_something_still_runs(tmp_path):
    result = run_cli(["run", S, "--dry-run", "--results", tmp_path, "--only", "method=coop,dataset=mnist"])
    assert result.code == 0 and "6 trials" in result.out, result.err


# -- paths ---------------------------------------------------------------------------------

@pytest.fixture
def store_with_a_row(tmp_path):
    from lore_bench.results.store import ResultsStore
    from lore_bench.suite.config import load_suite
    from lore_bench.suite.engine.rows import base_row
    from lore_bench.suite.expand import expand

    spec = expand(load_suite(S))[0]
    ResultsStore(tmp_path / "res").write_trial([{**base_row(spec, None, None), "stage": "main",
                                                  "eval_split": "test", "status": "ok", "top1": 50.0}])
    return tmp_path / "res"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_report_out_that_cannot_be_written(store_with_a_row):
    result = run_cli(["report", "--results", store_with_a_row, "--out", "/proc/nope"])
    assert_clear_error(result, "--out", "/proc/nope")
    assert result.out == ""  # refused before printing anything


def test_report_jobs_below_one(store_with_a_row, tmp_path):
    result = run_cli(["report", "--results", store_with_a_row, "--out", tmp_path / "r", "--jobs", "0"])
    assert_clear_error(result, "--jobs", "must be 1 or more")
    assert not (tmp_path / "r").exists()


def test_report_out_below_a_file(store_with_a_row, tmp_path):
    (tmp_path / "afile").write_text("x")
    assert_clear_error(run_cli(["report", "--results", store_with_a_row, "--out", tmp_path / "afile" / "r"]), "--out")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
@pytest.mark.parametrize("dry", [["--dry-run"], []])
def test_run_results_that_cannot_be_written(dry):
    assert_clear_error(run_cli(["run", S, *dry, "--results", "/proc/forbidden"]), "--results", "/proc/forbidden")


def test_a_dry_run_leaves_no_results_directory_behind(tmp_path):
    assert run_cli(["run", S, "--dry-run", "--results", tmp_path / "a" / "b"]).code == 0
    assert not (tmp_path / "a").exists()


def test_report_of_a_store_file_that_is_not_parquet(store_with_a_row, tmp_path, caplog):
    """One bad file never locks the store: it is named, skipped, and `results verify` lists it."""
    bad = store_with_a_row / "trials" / "zzz.parquet"
    bad.write_text("not parquet")
    result = run_cli(["report", "--results", store_with_a_row, "--out", tmp_path / "rep"])
    assert result.code == 0 and "Traceback" not in result.err
    warned = result.err + caplog.text  # a logging warning: stderr in a terminal, caplog under pytest
    assert "zzz.parquet" in warned and "results verify" in warned
    verify = run_cli(["results", "verify", "--results", store_with_a_row])
    assert verify.code == 2 and "zzz.parquet" in verify.out + verify.err


def test_report_unknown_suite_and_format(store_with_a_row):
    assert_clear_error(run_cli(["report", "--results", store_with_a_row, "--suite", "defualt"]),
                       "--suite", "did you mean 'default'")
    assert_clear_error(run_cli(["report", "--results", store_with_a_row, "--format", "md,pdf"]), "--format", "'pdf'")


@pytest.mark.parametrize("name, expected", [("NOPE", "unknown dataset 'NOPE'"), ("mnst", "did you mean 'mnist'")])
def test_doctor_unknown_dataset(name, expected):
    assert_clear_error(run_cli(["data", "doctor", name]), "data doctor", expected)


def test_doctor_header_shows_the_root_it_was_given(tmp_path):
    result = run_cli(["data", "doctor", "sklearn_digits", "--root", tmp_path / "elsewhere"])
    assert result.code == 0
    assert result.out.splitlines()[0] == f"data root: {tmp_path / 'elsewhere'}  (does not exist)"


def _flowers_with_broken_images(root: Path) -> tuple[Path, Path]:
    from fixtures.paper_datasets import MAKERS

    MAKERS["flowers102"](root)
    images = root / "oxford_flowers" / "jpg"
    truncated, garbage = images / "image_00002.jpg", images / "image_00005.jpg"
    truncated.write_bytes(truncated.read_bytes()[:60])
    garbage.write_bytes(b"this is not a jpeg")
    return truncated, garbage


@pytest.mark.parametrize("deep", [[], ["--deep"]])
def test_doctor_names_images_that_do_not_decode(tmp_path, deep):
    truncated, garbage = _flowers_with_broken_images(tmp_path)
    result = run_cli(["data", "doctor", "flowers102", "--root", tmp_path, *deep])
    assert result.code == 0, result.err
    assert "flowers102  broken" in result.out
    assert f"cannot decode {truncated}" in result.out and f"cannot decode {garbage}" in result.out
    assert ("every image checked" if deep else "a sample of 32 per split") in result.out


# -- data problems inside a run ------------------------------------------------------------

class _FakeTrial:
    def __init__(self, spec, error_file):
        self.config, self.error_file, self.trial_id = {"spec": spec.to_json()}, str(error_file), "t1"


def _ray_like_error_text(exc: BaseException) -> str:
    """What Ray Tune writes to a trial's error file: a header, the worker's traceback, all as text."""
    tb = "".join(traceback.format_exception(exc))
    return (f"Failure # 1 (occurred at 2025-01-01_00-00-00)\n"
            f"ray::ImplicitFunc.train() (pid=1, ip=127.0.0.1, actor_id=abc)\n{tb}")


def _summary_line(tmp_path, exc: BaseException) -> str:
    from conftest import make_spec
    from lore_bench.results.store import ResultsStore
    from lore_bench.suite.orchestrate import RunSummary
    from lore_bench.suite.orchestrate.progress import StoreCallback

    error_file = tmp_path / "error.txt"
    error_file.write_text(_ray_like_error_text(exc))
    summary = RunSummary(total=1, skipped=0)
    printed: list[str] = []
    callback = StoreCallback(ResultsStore(tmp_path / "res"), summary, 1, printed.append, 1)
    callback.on_trial_error(0, [], _FakeTrial(make_spec(), error_file))
    assert summary.failed == 1 and printed
    return summary.errors[0]


def _raised(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001  (the point is the exception object)
        return exc
    raise AssertionError("expected an error")


@pytest.mark.filterwarnings("ignore::lore_bench.benchmarks.prepared.CountMismatchWarning")
def test_a_broken_image_in_a_trial_reaches_the_summary_with_its_path(tmp_path):
    from lore_bench.benchmarks import get_dataset

    truncated, _ = _flowers_with_broken_images(tmp_path)
    split = get_dataset("flowers102", root=tmp_path).load_split("train")
    index = split.keys.index(truncated.name)
    line = _summary_line(tmp_path, _raised(lambda: split.load(index)))
    assert f"cannot decode {truncated}: truncated" in line
    assert "lore-bench-error" not in line


@pytest.mark.filterwarnings("ignore::lore_bench.benchmarks.prepared.CountMismatchWarning")
def test_a_missing_split_file_in_a_trial_reaches_the_summary_with_its_path(tmp_path):
    from fixtures.paper_datasets import MAKERS
    from lore_bench.benchmarks import get_dataset

    MAKERS["flowers102"](tmp_path)
    split_file = tmp_path / "oxford_flowers" / "split_zhou_OxfordFlowers.json"
    split_file.unlink()
    line = _summary_line(tmp_path, _raised(lambda: get_dataset("flowers102", root=tmp_path).load_split("train")))
    assert f"{split_file} not found" in line


def test_other_trial_errors_keep_the_traceback_last_line(tmp_path):
    line = _summary_line(tmp_path, _raised(lambda: json.loads("{")))
    assert "JSONDecodeError" in line


# -- internal errors and --debug -----------------------------------------------------------

def test_an_internal_error_shows_its_traceback_and_says_it_is_a_bug(monkeypatch):
    import lore_bench.cli as cli

    monkeypatch.setattr(cli, "_validate", lambda args: 1 / 0)
    result = run_cli(["validate", S])
    assert result.code == cli.EXIT_BUG == 3
    assert "Traceback" in result.err and "ZeroDivisionError" in result.err and "a bug in lore-bench" in result.err


@pytest.mark.parametrize("argv", [["--debug", "validate", S, "--set", "training.epochs=-3"],
                                  ["validate", S, "--set", "training.epochs=-3", "--debug"]])
def test_debug_adds_the_traceback_of_a_user_error(argv):
    result = run_cli(argv)
    assert result.code == 2 and "Traceback" in result.err and "error: --set" in result.err


@pytest.mark.parametrize("argv, expected", [
    (["rn", S], "did you mean 'run'"),
    (["run", S, "--dryrun"], "did you mean '--dry-run'"),
    (["validate", S, "--only", "method=coop"], "--only belongs to `lore-bench run`"),
    (["ls", "method"], "did you mean 'methods'"),
])
def test_command_line_mistakes_name_the_nearest_valid_word(argv, expected):
    assert_clear_error(run_cli(argv), expected)


def test_the_default_suite_is_valid_and_its_help_works():
    result = run_cli(["validate", S])
    assert result.code == 0 and "ok" in result.out, result.err
    assert run_cli(["run", "--help"]).code == 0


def test_a_valid_image_still_decodes(tmp_path):
    from lore_bench.benchmarks.base import open_rgb

    path = tmp_path / "ok.png"
    Image.fromarray(np.zeros((4, 5), np.uint8)).save(path)
    assert open_rgb(path).mode == "RGB" and open_rgb(path).size == (5, 4)


def test_the_report_lists_a_data_error_by_its_file(tmp_path):
    import pandas as pd

    from lore_bench.benchmarks.base import DataFileError
    from lore_bench.plots.tables.problems import problems_table

    def decode():
        raise DataFileError("cannot decode /d/x.jpg: truncated")

    error = _ray_like_error_text(_raised(decode))
    rows = pd.DataFrame([{"status": "failed", "method": "coop", "dataset": "dtd", "backbone": "b", "protocol": "few_shot",
                          "stage": "main", "shots": 1, "seed": 1, "error": error}])
    assert problems_table(rows).rows[0][-1].text == "cannot decode /d/x.jpg: truncated"
