"""Suite files: YAML (safe_load) -> a validated :class:`Suite`.

Every mistake is a :class:`SuiteError` naming the file, the line, the field and,
where one exists, the nearest valid name — the CLI prints it and exits with
code 2, without a traceback. ``--set key.path=value`` overrides are applied
before validation, so they are checked the same way.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..plugins import UnknownNameError, nearest
from .training import TrainingConfig
from .yaml_lines import line_of, load_with_lines

TOP_LEVEL = {
    "name": str, "description": str, "results": str, "data_root": (str, type(None)),
    "backbones": list, "datasets": list, "methods": dict, "protocol": dict,
    "training": dict, "resources": dict, "ray": dict, "tasks": dict,
}
#: The keys of the ``protocol:`` section every protocol shares; the rest belong
#: to the protocol's own Config (lore_bench.suite.protocols).
COMMON_PROTOCOL_KEYS = {"name": str, "plugin": str, "shots": list, "seeds": list}
RESOURCE_KEYS = {"cpu": (int, float), "gpu": (int, float), "max_concurrent": int, "retries": int}
RAY_KEYS = {"address": (str, type(None)), "dashboard": bool, "dashboard_host": str, "dashboard_port": int,
            "auth": bool, "num_cpus": (int, type(None)), "num_gpus": (int, type(None)),
            "checkpoint_dir": (str, type(None)), "keep_checkpoints": bool}
DEFAULT_RESOURCES = {"cpu": 1, "gpu": 0, "max_concurrent": 0, "retries": 1}


class SuiteError(Exception):
    def __init__(self, file: str, line: int | None, field: str, message: str, fix: str | None = None):
        self.file, self.line, self.field, self.message, self.fix = file, line, field, message, fix
        super().__init__(self.render())

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.field}: {self.message}"
        return text + (f"\n  fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class MethodEntry:
    name: str
    config: dict[str, Any]
    training: dict[str, Any]
    plugin: str | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    path: str
    backbones: list[Any]
    datasets: list[str]
    methods: list[MethodEntry]
    protocol: str = "few_shot"
    protocol_plugin: str | None = None
    shots: list[int] = field(default_factory=lambda: [16])
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    protocol_config: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_RESOURCES))
    ray: dict[str, Any] = field(default_factory=dict)
    results: str = "results"
    data_root: str | None = None
    tasks: dict[str, Any] = field(default_factory=dict)
    description: str = ""


class _Checker:
    """Validation helpers that know the file and the line of every key."""

    def __init__(self, file: str, lines: dict):
        self.file, self.lines = file, lines

    def fail(self, path: tuple, message: str, fix: str | None = None) -> None:
        dotted = ".".join(str(p) for p in path) or "(top level)"
        raise SuiteError(self.file, line_of(self.lines, path), dotted, message, fix)

    def keys(self, data: dict, allowed: dict, path: tuple) -> None:
        for key, value in data.items():
            if key not in allowed:
                near = nearest(str(key), allowed)
                self.fail(path + (key,), f"unknown key '{key}'" + (f"; did you mean '{near}'?" if near else ""),
                          f"allowed keys here: {', '.join(sorted(allowed))}")
            expected = allowed[key]
            if expected is not None and not _is_type(value, expected):
                self.fail(path + (key,), f"expected {_type_name(expected)}, got {type(value).__name__} ({value!r})")

    def name_in(self, value: Any, known: list[str], kind: str, path: tuple, fix: str) -> None:
        if not isinstance(value, str):
            self.fail(path, f"expected a {kind} name, got {value!r}")
        if value not in known:
            near = nearest(value, known)
            self.fail(path, f"unknown {kind} '{value}'" + (f"; did you mean '{near}'?" if near else ""),
                      fix + f" Known: {', '.join(known)}")

    def int_list(self, values: list, path: tuple, minimum: int) -> list[int]:
        for i, v in enumerate(values):
            if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
                self.fail(path + (i,), f"expected an integer >= {minimum}, got {v!r}")
        return list(values)


def _is_type(value: Any, expected: Any) -> bool:
    types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in types:
        return False
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, types)


def _type_name(expected: Any) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    names = {str: "a string", int: "an integer", float: "a number", bool: "true/false", list: "a list",
             dict: "a mapping", type(None): "null"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], parsed value); the value is YAML."""
    if "=" not in text:
        raise ValueError(f"--set '{text}' must look like key.path=value")
    key, raw = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else None


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    data = copy.deepcopy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            if not isinstance(node.get(k), dict):
                node[k] = {}
            node = node[k]
        node[keys[-1]] = value
    return data


def load_suite(path: str | Path, overrides: list[str] | None = None) -> Suite:
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise SuiteError(file, None, "(file)", f"cannot read the suite: {err.strerror}",
                         "check the path; `lore-bench ls suites` lists the shipped suites") from None
    try:
        data, lines = load_with_lines(text, file)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise SuiteError(file, mark.line + 1 if mark else None, "(syntax)", f"not valid YAML: {getattr(err, 'problem', err)}",
                         "check indentation and quoting near this line") from None
    if not isinstance(data, dict):
        raise SuiteError(file, 1, "(top level)", "a suite is a mapping of keys (name, methods, datasets, ...)")
    try:
        data = apply_overrides(data, overrides or [])
    except ValueError as err:
        raise SuiteError(file, None, "--set", str(err)) from None
    return validate(data, _Checker(file, lines), path)


def validate(data: dict, check: _Checker, path: Path) -> Suite:
    from ..backbones import BACKBONE_KEYS, BACKBONE_TYPES, NAMED_BACKBONES

    check.keys(data, TOP_LEVEL, ())
    for required in ("methods", "datasets", "backbones"):
        if required not in data:
            check.fail((), f"missing required key '{required}'")
    backbones = data["backbones"]
    for i, b in enumerate(backbones):
        if isinstance(b, dict):
            check.keys(b, {k: None for k in BACKBONE_KEYS | {"name"}}, ("backbones", i))
            if "arch" not in b:
                check.fail(("backbones", i), "an inline backbone needs 'arch' (and 'type': open_clip|timm)")
            if "plugin" not in b and b.get("type", "open_clip") not in BACKBONE_TYPES:
                check.name_in(b["type"], BACKBONE_TYPES.names(), "backbone type", ("backbones", i, "type"),
                              "a new family is a plugin: 'plugin: pkg.module:build' or the entry-point group "
                              "lore_bench.backbones.")
        else:
            check.name_in(b, sorted(NAMED_BACKBONES), "backbone", ("backbones", i),
                          "use a named backbone or an inline {type, arch, pretrained}.")
    protocol = data.get("protocol", {}) or {}
    proto_name, proto_plugin, protocol_config, known = _protocol_section(check, protocol)
    datasets = data["datasets"]
    for i, d in enumerate(datasets):
        check.name_in(d, known, "dataset", ("datasets", i), "`lore-bench ls datasets` lists them.")
    shots = check.int_list(protocol.get("shots", [16]), ("protocol", "shots"), 1)
    seeds = check.int_list(protocol.get("seeds", [1, 2, 3]), ("protocol", "seeds"), 0)
    training = data.get("training", {}) or {}
    _check_training(check, training, ("training",))
    methods = [_method_entry(check, name, cfg) for name, cfg in (data["methods"] or {}).items()]
    if not methods:
        check.fail(("methods",), "no methods listed")
    resources = {**DEFAULT_RESOURCES, **(data.get("resources") or {})}
    check.keys(data.get("resources") or {}, RESOURCE_KEYS, ("resources",))
    ray_cfg = data.get("ray") or {}
    check.keys(ray_cfg, RAY_KEYS, ("ray",))
    return Suite(
        name=data.get("name") or path.stem, path=str(path), backbones=backbones, datasets=datasets,
        methods=methods, protocol=proto_name, protocol_plugin=proto_plugin, shots=shots, seeds=seeds,
        protocol_config=protocol_config,
        training=training, resources=resources, ray=ray_cfg, results=data.get("results", "results"),
        data_root=data.get("data_root"), tasks=data.get("tasks") or {}, description=data.get("description", ""),
    )


def _protocol_section(check: _Checker, protocol: Any) -> tuple[str, str | None, dict, list[str]]:
    """The protocol's name, plugin path, own keys (as written: only these reach
    the trial_id) and the dataset names it accepts."""
    from ..methods.base import ConfigError
    from .protocols import PROTOCOLS, resolve_protocol
    from .protocols.base import parse_config

    path = ("protocol",)
    if not isinstance(protocol, dict):
        check.fail(path, "expected a mapping (name, shots, seeds and the protocol's own keys)")
    name, plugin = protocol.get("name", "few_shot"), protocol.get("plugin")
    for key in ("name", "plugin"):
        if key in protocol and not isinstance(protocol[key], str):
            check.fail(path + (key,), f"expected a string, got {protocol[key]!r}")
    try:
        cls = resolve_protocol(name, plugin)
    except UnknownNameError:
        selectable = [n for n in PROTOCOLS.names() if PROTOCOLS.get(n).selectable]
        check.name_in(name, selectable, "protocol", path + ("name",),
                      "`lore-bench ls protocols` lists them; a new protocol is a plugin ('plugin: pkg.module:Class').")
    except (ImportError, AttributeError, TypeError, ValueError) as err:
        check.fail(path + ("plugin",), f"cannot load protocol plugin '{plugin}': {err}",
                   "the module must be importable (installed, or on PYTHONPATH) and name a Protocol subclass")
    if not cls.selectable:
        check.fail(path + ("name",), f"protocol '{name}' is assigned by the expansion, not chosen in a suite")
    for key in COMMON_PROTOCOL_KEYS.keys() & protocol.keys():
        if not _is_type(protocol[key], COMMON_PROTOCOL_KEYS[key]):
            check.fail(path + (key,), f"expected {_type_name(COMMON_PROTOCOL_KEYS[key])}, got {protocol[key]!r}")
    own = {k: v for k, v in protocol.items() if k not in COMMON_PROTOCOL_KEYS}
    try:
        parse_config(cls, own)
    except ConfigError as err:
        field = str(err.field).split(".") if err.field else []
        check.fail(path + tuple(field), str(err))
    return name, plugin, own, cls.dataset_names()


def _check_training(check: _Checker, training: Any, path: tuple) -> None:
    if not isinstance(training, dict):
        check.fail(path, "expected a mapping of training options")
    defaults = TrainingConfig()
    check.keys(training, {name: type(getattr(defaults, name)) for name in TrainingConfig.field_names()}, path)
    if training.get("optimizer", "sgd") not in TrainingConfig.OPTIMIZERS:
        check.name_in(training["optimizer"], list(TrainingConfig.OPTIMIZERS), "optimizer", path + ("optimizer",), "")
    if training.get("precision", "auto") not in TrainingConfig.PRECISIONS:
        check.name_in(training["precision"], list(TrainingConfig.PRECISIONS), "precision", path + ("precision",), "")


def _method_entry(check: _Checker, name: str, cfg: Any) -> MethodEntry:
    from ..methods.base import ConfigError, build_config
    from ..methods.registry import METHODS, resolve_method

    path = ("methods", name)
    cfg = dict(cfg or {})
    if not isinstance(cfg, dict):
        check.fail(path, "expected a mapping of method options (or {})")
    plugin = cfg.pop("plugin", None)
    training = cfg.pop("training", {}) or {}
    _check_training(check, training, path + ("training",))
    try:
        cls = resolve_method(name, plugin)
    except UnknownNameError:
        check.name_in(name, METHODS.names(), "method", path,
                      "`lore-bench ls methods` lists them; a new method is a plugin ('plugin: pkg.module:Class').")
    except (ImportError, AttributeError, TypeError, ValueError) as err:
        check.fail(path + ("plugin",), f"cannot load plugin '{plugin}': {err}",
                   "the module must be importable (installed, or on PYTHONPATH) and name a Method subclass")
    try:
        build_config(cls.Config, cfg, name)
    except ConfigError as err:
        check.fail(path + (err.field,) if err.field else path, str(err))
    except TypeError as err:
        check.fail(path, f"bad option value: {err}")
    return MethodEntry(name=name, config=cfg, training=training, plugin=plugin)
