"""Property-based tests: the default suite and the command line, mutated at
random (types, ranges, names, structure, encodings), always get a clear answer.

A mutation known to be wrong must give exit 2, no traceback, one screen and
name its culprit (the field or the flag); any mutation at all must give exit 0
or 2 and never a traceback. `lore-bench` runs in-process, only `validate` and
`run --dry-run` (never Ray). The default run is a few seconds and
deterministic; ``HYPOTHESIS_PROFILE=deep`` runs many more cases.
"""
from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cli_inprocess import DEFAULT_SUITE, MAX_LINES, assert_clear_error, run_cli  # noqa: E402

_common = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("lore-bench-fast", max_examples=20, derandomize=True, **_common)
settings.register_profile("deep", max_examples=1500, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lore-bench-fast"))
# a valid command line is a full dry run (~0.5 s): fewer of those by default
FEW = min(10, settings().max_examples) if settings().derandomize else settings().max_examples // 3

BASE = yaml.safe_load(DEFAULT_SUITE.read_text())
WORK = Path(tempfile.mkdtemp(prefix="lb-fuzz-"))  # cwd of every run: the suite's relative `results` lands here
atexit.register(shutil.rmtree, WORK, True)
DATASETS_IN_SUITE = BASE["datasets"]
KNOWN_WORDS = {"null", "true", "false", "yes", "no", "on", "off", "~"}

# Numeric fields of the default suite: (path, integer?, low, high, low bound excluded?)
NUMERIC = [
    (("training", "epochs"), True, 0, None, False),
    (("training", "warmup_epochs"), True, 0, None, False),
    (("protocol", "eval_subset"), True, 0, None, False),
    (("resources", "retries"), True, 0, None, False),
    (("resources", "cpu"), False, 0, None, True),
    (("resources", "gpu"), False, 0, None, False),
    (("methods", "lore", "training", "lr"), False, 0, None, True),
    (("methods", "lore", "training", "min_lr"), False, 0, None, False),
    (("methods", "maple", "training", "batch_size"), True, 1, None, False),
    (("methods", "cocoop", "training", "epochs"), True, 0, None, False),
    (("protocol", "seeds", 0), True, 0, None, False),
    (("protocol", "shots", 1), True, 1, None, False),
    (("ray", "dashboard_port"), True, 1, 65535, False),
    (("ray", "num_cpus"), True, 1, None, False),
    (("training", "momentum"), False, 0, 1, False),
]
NAMES = [("datasets", 1), ("backbones", 0), ("protocol", "name"), ("training", "optimizer"),
         ("training", "precision"), ("protocol", "difficulty")]
MAPPINGS = [("methods", "coop"), ("methods", "vpt"), ("training",), ("protocol",), ("resources",), ("ray",),
            ("methods", "cocoop", "training"), ("methods",)]
NON_EMPTY = [("protocol", "seeds"), ("protocol", "shots"), ("datasets",), ("backbones",), ("methods",)]
KEYED = [(), ("training",), ("protocol",), ("resources",), ("ray",), ("methods", "coop"), ("methods", "lore"),
         ("methods", "maple", "training")]


def dotted(path) -> str:
    return ".".join(str(p) for p in path)


def put(data, path, value):
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
    node[path[-1]] = value


def run_suite_text(text: bytes | str, argv_tail=()) -> object:
    path = WORK / "suite.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return run_cli(["validate", path, *argv_tail], cwd=WORK)


def dump(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# -- strategies -----------------------------------------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | names
any_value = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
                         max_leaves=6)


@st.composite
def bad_number(draw):
    """A numeric field set to a value out of its range or not a number: (path, value)."""
    path, integer, low, high, low_open = draw(st.sampled_from(NUMERIC))
    out_of_range = [st.integers(max_value=low - 1) if not low_open else st.integers(max_value=low)]
    if high is not None:
        out_of_range.append(st.integers(min_value=int(high) + 1))
    wrong_kind = [st.text(max_size=8).filter(lambda s: s.strip() != ""), st.lists(st.integers(), max_size=2),
                  st.dictionaries(st.text(max_size=3), st.integers(), max_size=1), st.booleans(),
                  st.just(float("nan")), st.just(float("inf"))]
    if integer:
        wrong_kind.append(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()))
    value = draw(st.one_of(*out_of_range, *wrong_kind))
    return path, value


@st.composite
def known_bad_suite(draw):
    """(data, culprit) with one mistake that must be reported."""
    data = copy.deepcopy(BASE)
    kind = draw(st.sampled_from(["number", "name", "mapping", "empty", "unknown_key", "method_name"]))
    if kind == "number":
        path, value = draw(bad_number())
    elif kind == "name":
        path = draw(st.sampled_from(NAMES))
        value = draw(names.filter(lambda s: s not in {"few_shot", "easy_to_hard", "frozen_features", "sgd", "adamw",
                                                        "auto", "fp32", "bf16", "fp16", "fp16_pure", "herding",
                                                        "centroid_distance"} and not _is_known_name(s)))
    elif kind == "mapping":
        path = draw(st.sampled_from(MAPPINGS))
        value = draw(st.integers() | st.text(min_size=1, max_size=6).filter(lambda s: s.strip() and s.lower()
                                                                            not in KNOWN_WORDS)
                     | st.lists(st.integers(), min_size=1, max_size=3))
    elif kind == "empty":
        path = draw(st.sampled_from(NON_EMPTY))
        value = {} if path == ("methods",) else []
    elif kind == "unknown_key":
        parent = draw(st.sampled_from(KEYED))
        key = draw(st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True).filter(lambda k: not _allowed(parent, k)))
        path, value = parent + (key,), draw(scalars)
    else:  # a method name no registry knows
        key = draw(st.from_regex(r"[a-z][a-z_0-9]{0,10}", fullmatch=True).filter(lambda k: not _is_known_name(k)))
        path, value = ("methods", key), {}
    put(data, path, value)
    return data, dotted(path)


def _not_an_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return True
    return False


def _is_known_name(name: str) -> bool:
    from lore_bench.backbones import NAMED_BACKBONES
    from lore_bench.benchmarks import DATASETS
    from lore_bench.methods.registry import METHODS

    return name in set(DATASETS.names()) | set(METHODS.names()) | set(NAMED_BACKBONES)


def _allowed(parent: tuple, key: str) -> bool:
    from lore_bench.methods.registry import METHODS
    from lore_bench.suite import config
    from lore_bench.suite.training import TrainingConfig

    if parent == ():
        return key in config.TOP_LEVEL
    if parent[-1] == "training":
        return key in TrainingConfig.field_names()
    if parent[0] == "methods":
        import dataclasses

        return key in {"plugin", "training", "recipe"} | {f.name for f in dataclasses.fields(METHODS.get(parent[1]).Config)}
    if parent[0] == "protocol":
        import dataclasses

        from lore_bench.suite.protocols import PROTOCOLS

        own = {f.name for f in dataclasses.fields(PROTOCOLS.get("few_shot").Config)}  # the default suite's protocol
        return key in config.COMMON_PROTOCOL_KEYS or key in own
    return key in {"resources": config.RESOURCE_KEYS, "ray": config.RAY_KEYS}[parent[0]]


def all_paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from all_paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from all_paths(value, prefix + (i,))


PATHS = [p for p in all_paths(BASE) if p]


@st.composite
def any_mutation(draw):
    """Suite text after an arbitrary change: a value replaced or deleted, the
    text cut, bytes flipped or YAML punctuation inserted."""
    data = copy.deepcopy(BASE)
    kind = draw(st.sampled_from(["replace", "delete", "option", "protocol", "cut", "bytes", "punctuation"]))
    if kind == "option":  # a real option of a method, any value
        import dataclasses

        from lore_bench.methods.registry import METHODS

        method = draw(st.sampled_from(sorted(BASE["methods"])))
        fields = [f.name for f in dataclasses.fields(METHODS.get(method).Config)] or ["anything"]
        put(data, ("methods", method, draw(st.sampled_from(fields))), draw(any_value))
        return dump(data).encode("utf-8")
    if kind == "protocol":  # another protocol changes what the rest must be
        put(data, ("protocol", "name"), draw(st.sampled_from(["easy_to_hard", "frozen_features"])))
        if draw(st.booleans()):
            put(data, ("protocol", draw(st.sampled_from(["white_box", "options", "difficulty", "hard_epochs"]))),
                draw(any_value))
        return dump(data).encode("utf-8")
    if kind in ("replace", "delete"):
        path = draw(st.sampled_from(PATHS))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if kind == "replace":
            parent[path[-1]] = draw(any_value)
        else:
            del parent[path[-1]]
        return dump(data).encode("utf-8")
    raw = DEFAULT_SUITE.read_bytes()
    at = draw(st.integers(0, len(raw)))
    if kind == "cut":
        return raw[:at]
    if kind == "bytes":
        return raw[:at] + draw(st.binary(min_size=1, max_size=4)) + raw[at:]
    return raw[:at] + draw(st.sampled_from(["&a ", "*a", "*nope", "!!python/object:os.system ", "{", "[", "]", ": ",
                                            "\t", "- ", "<<: *a\n", "? ", "%YAML 1.1\n", "'", '"'])).encode() + raw[at:]


def assert_answer(result) -> None:
    """Exit 0 or 2, never a traceback, never more than one screen of error."""
    assert result.code in (0, 2), f"exit {result.code}\n{result.err[-3000:]}"
    assert "Traceback" not in result.err, result.err
    assert len(result.err.splitlines()) <= MAX_LINES, result.err
    if result.code == 2:
        assert result.err.startswith("error: "), result.err


# -- the properties -------------------------------------------------------------------------

@given(known_bad_suite())
def test_a_known_mistake_in_the_suite_is_named(case):
    data, culprit = case
    assert_clear_error(run_suite_text(dump(data)), culprit)


@given(st.sampled_from(["invalid", "utf16", "latin1"]), st.integers(0, 10**6), st.data())
def test_a_suite_that_is_not_utf8_says_so(kind, seed, data):
    raw = DEFAULT_SUITE.read_bytes()
    if kind == "utf16":
        text = raw.decode().encode("utf-16")
    elif kind == "latin1":
        text = raw.replace(b"name: default", "name: défaut".encode("latin-1"))
    else:
        at = seed % len(raw)
        text = raw[:at] + data.draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\x80"])) + raw[at:]
    assert_clear_error(run_suite_text(text), "UTF-8")


@given(any_mutation())
def test_any_mutation_of_the_suite_gets_a_clear_answer(text):
    assert_answer(run_suite_text(text))


INT_FLAGS = {"--num-cpus": (1, None), "--dashboard-port": (1, 65535), "--retries": (0, None), "--max-concurrent": (0, None)}


@st.composite
def bad_flag(draw):
    """(argv tail, culprit) for `run --dry-run` with one flag known to be wrong."""
    kind = draw(st.sampled_from(["int", "set_value", "set_syntax", "only_key", "only_value", "only_shots"]))
    if kind == "int":
        flag = draw(st.sampled_from(sorted(INT_FLAGS)))
        low, high = INT_FLAGS[flag]
        value = draw(st.integers(max_value=low - 1) | (st.integers(min_value=high + 1) if high else st.nothing())
                     | st.text(max_size=6).filter(_not_an_int))
        return [f"{flag}={value}"], flag
    if kind == "set_value":
        path, value = draw(bad_number())
        return ["--set", f"{dotted(path)}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"], "--set"
    if kind == "set_syntax":
        text = draw(st.sampled_from(["=5", "training..epochs=1", "training.epochs=[1", "training.epochs={a:",
                                     "noequals", "training.epochs.x=1", "protocol.seeds.9=1", ".=1",
                                     "training.epochs='unclosed"]))
        return ["--set", text], "--set"
    if kind == "only_key":
        key = draw(st.from_regex(r"[a-z]{1,8}", fullmatch=True).filter(
            lambda k: k not in {"method", "dataset", "backbone", "shots", "seed", "protocol"}))
        return ["--only", f"{key}=x"], "--only"
    if kind == "only_value":
        value = draw(st.from_regex(r"[a-z_]{1,10}", fullmatch=True).filter(lambda v: v not in DATASETS_IN_SUITE))
        return ["--only", f"dataset={value}"], "--only"
    value = draw(st.text(st.characters(codec="ascii", exclude_characters=",="), min_size=1, max_size=5).filter(
        lambda v: v.strip() and v.strip() not in {"0", "1", "4", "16"}))
    return ["--only", f"shots={value}"], "--only"


@given(bad_flag())
def test_a_known_mistake_on_the_command_line_is_named(case):
    tail, culprit = case
    result = run_cli(["run", DEFAULT_SUITE, "--dry-run", "--results", WORK / "results", *tail], cwd=WORK)
    assert_clear_error(result, culprit)


FLAG_POOL = ["--set", "--only", "--num-cpus", "--retries", "--max-concurrent", "--dashboard-port", "--results",
             "--dashboard-host", "--address", "--verbose", "--no-dashboard", "--debug", "--nonsense"]


@settings(max_examples=FEW)
@given(st.lists(st.tuples(st.sampled_from(FLAG_POOL), any_value.map(str) | names), max_size=3))
def test_any_command_line_gets_a_clear_answer(pairs):
    tail = [str(x) for flag, value in pairs for x in (flag, value)]
    if "--results" not in tail:
        tail += ["--results", str(WORK / "results")]
    result = run_cli(["run", DEFAULT_SUITE, "--dry-run", *tail], cwd=WORK)
    if "--debug" in tail:  # asked for: a user error then shows its traceback too
        assert result.code in (0, 2), result.err
        return
    assert_answer(result)
