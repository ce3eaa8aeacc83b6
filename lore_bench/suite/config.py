"""Suite files: YAML (safe_load, bounded) -> a validated :class:`Suite`.

Every mistake is a :class:`SuiteError` naming the file, the line, the field,
what was expected and, where one exists, the nearest valid name — the CLI
prints it and exits with code 2, without a traceback. ``--set key.path=value``
overrides are applied before validation, so they are checked the same way
(and an error in a value they gave names the ``--set``).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import describe
from ..plugins import UnknownNameError
from .checks import AT_LEAST_0, AT_LEAST_1, POSITIVE, Checker, Range, SuiteError, is_type
from .overrides import apply_overrides
from .training import TrainingConfig
from .yaml_lines import YamlShapeError, load_with_lines

MAX_SUITE_BYTES = 1 << 20  # the largest shipped suite is ~3 KB

TOP_LEVEL = {
    "name": str, "description": str, "results": str, "data_root": (str, type(None)),
    "backbones": list, "datasets": list, "methods": dict, "protocol": dict,
    "training": dict, "resources": dict, "ray": dict, "tasks": dict, "recipe": str, "include": list,
}
SHIPPED_SUITES = Path(__file__).resolve().parent.parent / "suites"  # lore_bench/suites: package data
MAX_INCLUDES = 16
#: The keys of the ``protocol:`` section every protocol shares; the rest belong
#: to the protocol's own Config (lore_bench.suite.protocols), which checks them.
COMMON_PROTOCOL_KEYS = {"name": str, "plugin": str, "shots": list, "seeds": list}
RESOURCE_KEYS = {"cpu": (int, float), "gpu": (int, float), "max_concurrent": int, "retries": int,
                 # trial packing (suite/packing.py): fractional GPUs per method
                 "pack": bool, "gpu_per_method": dict, "gpu_memory_gb": (int, float)}
RAY_KEYS = {"address": (str, type(None)), "dashboard": bool, "dashboard_host": str, "dashboard_port": int,
            "auth": bool, "num_cpus": (int, type(None)), "num_gpus": (int, type(None)),
            "checkpoint_dir": (str, type(None)), "keep_checkpoints": bool}
DEFAULT_RESOURCES = {"cpu": 1, "gpu": 0, "max_concurrent": 0, "retries": 1}


@dataclass(frozen=True)
class MethodEntry:
    name: str
    config: dict[str, Any]
    training: dict[str, Any]
    plugin: str | None = None
    recipe: str | None = None  # None: the suite's recipe


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
    recipe: str = "lore_bench"  # authors | paper | lore_bench (lore_bench.methods.recipes)
    includes: list[str] = field(default_factory=list)  # resolved paths of the suites this one includes

TRAINING_RANGES = {"epochs": AT_LEAST_0, "lr": POSITIVE, "batch_size": AT_LEAST_1, "momentum": Range(0, 1, high_open=True),
                   "weight_decay": AT_LEAST_0, "warmup_epochs": AT_LEAST_0, "warmup_lr": AT_LEAST_0,
                   "min_lr": AT_LEAST_0, "eval_batch_size": AT_LEAST_1, "checkpoint_every_s": AT_LEAST_0}
TRAINING_INTS = {"epochs", "batch_size", "warmup_epochs", "eval_batch_size"}
RESOURCE_RANGES = {"cpu": POSITIVE, "gpu": AT_LEAST_0, "max_concurrent": AT_LEAST_0, "retries": AT_LEAST_0,
                   "gpu_memory_gb": POSITIVE}
RAY_RANGES = {"dashboard_port": Range(1, 65535), "num_cpus": AT_LEAST_1, "num_gpus": AT_LEAST_0}
INTEGER_KEYS = {"max_concurrent", "retries", "dashboard_port", "num_cpus", "num_gpus",
                "shots", "seed"}


def read_suite_text(path: Path) -> str:
    """The file's text: at most :data:`MAX_SUITE_BYTES`, UTF-8 (a BOM is allowed)."""
    file = str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SUITE_BYTES + 1)
    except OSError as err:
        raise SuiteError(file, None, "(file)", f"cannot read the suite: {err.strerror or err}",
                         "check the path; `lore-bench ls suites` lists the shipped suites") from None
    if len(raw) > MAX_SUITE_BYTES:
        raise SuiteError(file, None, "(file)", f"larger than {MAX_SUITE_BYTES // 1024} KiB; a suite file is a few KB",
                         "is this the right file? a suite is a short YAML file (see suite.yaml)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise SuiteError(file, line, "(encoding)", f"not UTF-8 text: byte 0x{raw[err.start]:02x} cannot be decoded",
                         "save the file as UTF-8 (a suite is a YAML text file)") from None


def load_suite(path: str | Path, overrides: list[str] | None = None) -> Suite:
    path = Path(path)
    file = str(path)
    text = read_suite_text(path)
    try:
        data, lines = load_with_lines(text, file)
    except YamlShapeError as err:
        raise SuiteError(file, err.line, "(structure)", err.problem, err.fix) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SuiteError(file, mark.line + 1 if mark else None, "(syntax)", f"not valid YAML: {problem}",
                         "check indentation and quoting near this line") from None
    if not isinstance(data, dict):
        raise SuiteError(file, 1, "(top level)", f"a suite is a mapping of keys (name, methods, datasets, ...), "
                         f"got {describe(data)}", "start from suite.yaml")
    data, overridden = apply_overrides(data, overrides or [])
    return validate(data, Checker(file, lines, overridden), path)


def validate(data: dict, check: Checker, path: Path) -> Suite:
    from ..backbones import NAMED_BACKBONES

    check.plain(data)
    check.keys(data, TOP_LEVEL, ())
    for required in ("methods", "datasets", "backbones"):
        if required not in data:
            check.fail((), f"missing required key '{required}'", "see suite.yaml for a complete suite")
    for key in ("name", "results", "data_root"):
        if data.get(key) == "":
            check.fail((key,), "expected a non-empty string, got ''", f"remove '{key}' for the default")
    backbones = check.non_empty_list(data["backbones"], ("backbones",), "backbones", "backbones: [micro_clip]")
    for i, b in enumerate(backbones):
        if isinstance(b, dict):
            _check_inline_backbone(check, b, ("backbones", i))
        else:
            check.name_in(b, sorted(NAMED_BACKBONES), "backbone", ("backbones", i),
                          "use a named backbone or an inline {type, arch, pretrained}.")
    protocol = check.mapping(data.get("protocol"), ("protocol",), "protocol options", "protocol: {name: few_shot}")
    proto_name, proto_plugin, protocol_config, known = _protocol_section(check, protocol)
    datasets = check.non_empty_list(data["datasets"], ("datasets",), "datasets", "datasets: [mnist]")
    for i, d in enumerate(datasets):
        check.name_in(d, known, "dataset", ("datasets", i), "`lore-bench ls datasets` lists them.")
    shots = check.int_list(protocol.get("shots", [16]), ("protocol", "shots"), 1, "shot counts", "shots: [1, 4, 16]")
    seeds = check.int_list(protocol.get("seeds", [1, 2, 3]), ("protocol", "seeds"), 0, "seeds", "seeds: [1, 2, 3]")
    training = check.mapping(data.get("training"), ("training",), "training options", "training: {epochs: 10}")
    _check_training(check, training, ("training",))
    recipe = _recipe(check, data.get("recipe", "lore_bench"), ("recipe",))
    methods_cfg = check.mapping(data["methods"], ("methods",), "method names to their options",
                                "methods: {coop: {}, lore: {n_shared: 8}}")
    methods = [_method_entry(check, name, cfg) for name, cfg in methods_cfg.items()]
    if not methods:
        check.fail(("methods",), "no methods listed; at least one is needed", "e.g. methods: {coop: {}}")
    _check_resolved_training(check, methods, training, recipe, backbones, datasets, shots, proto_name)
    user_resources = check.mapping(data.get("resources"), ("resources",), "resources", "resources: {cpu: 1}")
    check.keys(user_resources, RESOURCE_KEYS, ("resources",))
    check.numbers(user_resources, RESOURCE_RANGES, ("resources",), INTEGER_KEYS)
    for method, share in (user_resources.get("gpu_per_method") or {}).items():
        if not is_type(share, (int, float)) or not 0 < share <= 1:
            check.fail(("resources", "gpu_per_method", method), f"expected a GPU share in (0, 1], got {describe(share)}",
                       "e.g. gpu_per_method: {coop: 0.25} (four CoOp trials per GPU)")
    resources = {**DEFAULT_RESOURCES, **user_resources}
    ray_cfg = check.mapping(data.get("ray"), ("ray",), "Ray options", "ray: {dashboard: true}")
    check.keys(ray_cfg, RAY_KEYS, ("ray",))
    check.numbers(ray_cfg, RAY_RANGES, ("ray",), INTEGER_KEYS)
    return Suite(
        name=data.get("name") or path.stem, path=str(path), backbones=backbones, datasets=datasets,
        methods=methods, protocol=proto_name, protocol_plugin=proto_plugin, shots=shots, seeds=seeds,
        protocol_config=protocol_config, recipe=recipe,
        training=training, resources=resources, ray=ray_cfg, results=data.get("results", "results"),
        data_root=data.get("data_root"), tasks=data.get("tasks") or {}, description=data.get("description", ""),
        includes=_includes(check, data.get("include") or [], path),
    )


def shipped_or_path(name_or_path: str, relative_to: Path | None = None) -> Path:
    """A suite file: a path (relative to ``relative_to``'s folder when given and it
    exists there), else the name of a shipped suite (``table1_fewshot_vitb16``)."""
    path = Path(name_or_path).expanduser()
    if relative_to is not None and not path.is_absolute() and (relative_to.parent / path).exists():
        return relative_to.parent / path
    if path.exists() or path.suffix in {".yaml", ".yml"} or "/" in name_or_path:
        return path
    shipped = SHIPPED_SUITES / f"{name_or_path}.yaml"
    return shipped if shipped.exists() else path


def _includes(check: Checker, entries: list, path: Path) -> list[str]:
    """The included suites' files: each must exist (checked here, loaded by
    :func:`load_suite_tree`)."""
    if len(entries) > MAX_INCLUDES:
        check.fail(("include",), f"{len(entries)} includes; at most {MAX_INCLUDES}", "split the suite")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, str) or not entry:
            check.fail(("include", i), f"expected a suite name or path, got {describe(entry)}",
                       "e.g. include: [generalization_embedded] (`lore-bench ls suites`) or [./more.yaml]")
        target = shipped_or_path(entry, path)
        if not target.is_file():
            check.fail(("include", i), f"no suite file '{entry}' (looked beside {path.name} and in the shipped suites)",
                       "`lore-bench ls suites` lists the shipped ones; paths are relative to this file")
        out.append(str(target))
    return out


def load_suite_tree(path: str | Path, overrides: list[str] | None = None) -> list[Suite]:
    """The suite at ``path`` and, after it, every suite it includes (depth
    first, each once). ``--set`` overrides apply to the top suite only; an
    included suite keeps its own name, budgets and recipe, while the run's
    results folder, resources and Ray options are the top suite's."""
    top = load_suite(path, overrides)
    suites, seen, todo = [top], {str(Path(path).resolve())}, list(top.includes)
    while todo:
        child_path = todo.pop(0)
        key = str(Path(child_path).resolve())
        if key in seen:
            continue  # a cycle or a diamond: each suite once
        seen.add(key)
        child = load_suite(child_path)
        suites.append(child)
        todo.extend(child.includes)
        if len(suites) > MAX_INCLUDES + 1:
            raise SuiteError(str(path), None, "include", f"more than {MAX_INCLUDES} suites through includes",
                             "flatten the includes")
    return suites


def _protocol_section(check: Checker, protocol: dict) -> tuple[str, str | None, dict, list[str]]:
    """The protocol's name, plugin path, own keys (as written: only these reach
    the trial_id) and the dataset names it accepts."""
    from ..methods.base import ConfigError
    from .protocols import PROTOCOLS, resolve_protocol
    from .protocols.base import parse_config

    path = ("protocol",)
    for key in COMMON_PROTOCOL_KEYS.keys() & protocol.keys():
        check.keys({key: protocol[key]}, COMMON_PROTOCOL_KEYS, path)
    name, plugin = protocol.get("name", "few_shot"), protocol.get("plugin")
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
        check.fail(path + ("name",), f"protocol '{name}' is assigned by the expansion, not chosen in a suite",
                   "use few_shot: a method that learns nothing from images runs zero-shot by itself")
    own = {k: v for k, v in protocol.items() if k not in COMMON_PROTOCOL_KEYS}
    try:
        parse_config(cls, own)
    except ConfigError as err:
        field = str(err.field).split(".") if err.field else []
        defaults = {f.name: f.default for f in dataclasses.fields(cls.Config)}
        if field and field[0] not in defaults:
            fix = f"protocol '{name}' takes: {', '.join(sorted(COMMON_PROTOCOL_KEYS.keys() | defaults.keys()))}"
        elif field and defaults[field[0]] is not dataclasses.MISSING:
            fix = f"the default is {defaults[field[0]]!r}; remove the key to use it"
        else:
            fix = "see docs/architecture.md (protocol keys) and `lore-bench ls protocols`"
        check.fail(path + tuple(field), str(err), fix)
    return name, plugin, own, cls.dataset_names()


def _check_inline_backbone(check: Checker, b: dict, path: tuple) -> None:
    from ..backbones import BACKBONE_TYPES

    check.keys(b, {"name": str, "type": str, "arch": str, "pretrained": (str, bool, type(None)),
                   "text_tower": (dict, type(None)), "plugin": str}, path)
    if not b.get("arch"):
        check.fail(path, "an inline backbone needs 'arch' (and 'type': open_clip|timm)",
                   "e.g. {type: open_clip, arch: ViT-B-16, pretrained: openai}")
    if "plugin" not in b and b.get("type", "open_clip") not in BACKBONE_TYPES:
        check.name_in(b["type"], BACKBONE_TYPES.names(), "backbone type", path + ("type",),
                      "a new family is a plugin: 'plugin: pkg.module:build' or the entry-point group "
                      "lore_bench.backbones.")
    tower = b.get("text_tower")
    if tower:
        check.keys(tower, {"arch": str, "pretrained": (str, bool, type(None))}, path + ("text_tower",))
        if not tower.get("arch"):
            check.fail(path + ("text_tower",), "a text tower needs 'arch'", "e.g. {arch: ViT-B-16, pretrained: openai}")


def _check_training(check: Checker, training: Any, path: tuple) -> None:
    training = check.mapping(training, path, "training options", "training: {epochs: 10, lr: 0.002}")
    defaults = TrainingConfig()
    check.keys(training, {name: type(getattr(defaults, name)) for name in TrainingConfig.field_names()}, path)
    check.numbers(training, TRAINING_RANGES, path, TRAINING_INTS)
    if training.get("optimizer", "sgd") not in TrainingConfig.OPTIMIZERS:
        check.name_in(training["optimizer"], list(TrainingConfig.OPTIMIZERS), "optimizer", path + ("optimizer",), "")
    if training.get("schedule", "cosine") not in TrainingConfig.SCHEDULES:
        check.name_in(training["schedule"], list(TrainingConfig.SCHEDULES), "schedule", path + ("schedule",), "")
    if training.get("data_path", "device") not in TrainingConfig.DATA_PATHS:
        check.name_in(training["data_path"], list(TrainingConfig.DATA_PATHS), "data path", path + ("data_path",), "")
    if training.get("precision", "auto") not in TrainingConfig.PRECISIONS:
        check.name_in(training["precision"], list(TrainingConfig.PRECISIONS), "precision", path + ("precision",), "")


#: schedules that have no warm-up: a resolved ``warmup_epochs > 0`` with them fails every trial
NO_WARMUP_SCHEDULES = {"lore_cosine": "LORE's release (CosineAnnealingLR from the first epoch)"}


def _check_resolved_training(check: Checker, methods: list[MethodEntry], training: dict, recipe: str,
                             backbones: list, datasets: list[str], shots: list[int], protocol: str) -> None:
    """Combinations that would fail every trial of a method are named here, at load:
    a warm-up resolved onto a schedule without one (a global ``warmup_epochs`` over
    LORE's ``lore_cosine``), precision ``fp16_pure`` for a method that cannot run it."""
    from ..backbones import resolve_backbone
    from ..methods.registry import resolve_method
    from .grid import resolve_training

    for entry in methods:
        cls = resolve_method(entry.name, entry.plugin)
        if not cls.uses_training_data:
            continue
        for ref in backbones:
            for dataset in datasets:
                for n in shots:
                    resolved = resolve_training(cls, dataset, n, training, entry.training,
                                                entry.recipe or recipe, resolve_backbone(ref), protocol)
                    if resolved.get("precision") == "fp16_pure" and not cls.runs_pure_fp16:
                        own = "precision" in entry.training
                        check.fail(("methods", entry.name, "training", "precision") if own else ("training", "precision"),
                                   f"method '{entry.name}' cannot run in precision fp16_pure (all weights in "
                                   "fp16; only methods with runs_pure_fp16 = True: the CoOp family)",
                                   f"set precision: fp16 (autocast) or auto under methods.{entry.name}.training")
                    schedule, warmup = resolved.get("schedule"), resolved.get("warmup_epochs", 0)
                    if schedule not in NO_WARMUP_SCHEDULES or not warmup:
                        continue
                    mine = ("methods", entry.name, "training")
                    if "warmup_epochs" in entry.training:
                        where = mine + ("warmup_epochs",)
                    elif "warmup_epochs" in training:
                        where = ("training", "warmup_epochs")
                    else:
                        where = ("methods", entry.name)
                    source = "the suite's" if where[0] == "training" else f"method '{entry.name}''s"
                    check.fail(where, f"warmup_epochs: {warmup} ({source}) meets method '{entry.name}''s "
                               f"schedule '{schedule}', which has no warm-up ({NO_WARMUP_SCHEDULES[schedule]}); "
                               f"every {entry.name} trial would fail",
                               f"set warmup_epochs: 0 under methods.{entry.name}.training"
                               + (" (or drop the global warmup_epochs)" if where[0] == "training" else ""))


def _method_entry(check: Checker, name: Any, cfg: Any) -> MethodEntry:
    from ..methods.base import ConfigError, build_config
    from ..methods.registry import METHODS, resolve_method

    path = ("methods", name)
    cfg = dict(check.mapping(cfg, path, f"options of method '{name}'", f"{name}: {{}} (the defaults) or "
                             f"{name}: {{training: {{epochs: 5}}}}"))
    plugin = cfg.pop("plugin", None)
    if plugin is not None and not isinstance(plugin, str):
        check.fail(path + ("plugin",), f"expected a string 'package.module:Class', got {describe(plugin)}",
                   "e.g. plugin: 'my_package.methods:MyMethod'")
    recipe = _recipe(check, cfg.pop("recipe"), path + ("recipe",)) if "recipe" in cfg else None
    training = cfg.pop("training", None) or {}
    _check_training(check, training, path + ("training",))
    fix = "`lore-bench ls methods` lists them; a new method is a plugin ('plugin: pkg.module:Class')."
    if not isinstance(name, str):
        check.name_in(name, METHODS.names(), "method", path, fix)
    try:
        cls = resolve_method(name, plugin)
    except UnknownNameError:
        check.name_in(name, METHODS.names(), "method", path, fix)
    except (ImportError, AttributeError, TypeError, ValueError) as err:
        check.fail(path + ("plugin",), f"cannot load plugin '{plugin}': {err}",
                   "the module must be importable (installed, or on PYTHONPATH) and name a Method subclass")
    _check_method_options(check, cls, cfg, path, builtin=plugin is None)
    try:
        build_config(cls.Config, cfg, name)
    except ConfigError as err:
        check.fail(path + (err.field,) if err.field else path, str(err))
    except (TypeError, ValueError) as err:  # the Config's own checks (__post_init__)
        check.fail(path, f"bad option value: {err}")
    return MethodEntry(name=name, config=cfg, training=training, plugin=plugin, recipe=recipe)


def _recipe(check: Checker, value: Any, path: tuple) -> str:
    from ..methods.recipes import RECIPES

    check.name_in(value, list(RECIPES), "recipe", path,
                  "authors = the released code and configs, paper = the paper's text, lore_bench = the "
                  "released values with their defects corrected (docs/methods.md).")
    return value


def _check_method_options(check: Checker, cls: type, cfg: dict, path: tuple, builtin: bool) -> None:
    """Each option of the type its Config declares; a built-in method's numbers
    are counts, sizes, weights or rates, so they are never negative."""
    if not dataclasses.is_dataclass(cls.Config):
        return
    try:
        hints = typing.get_type_hints(cls.Config)
    except Exception:  # a plugin's annotations may not resolve here; its Config still checks itself
        return
    defaults = {f.name: f.default for f in dataclasses.fields(cls.Config)}
    for key, value in cfg.items():
        expected = _plain_type(hints.get(key))
        if expected is None:
            continue
        default = defaults.get(key, dataclasses.MISSING)
        fix = None if default is dataclasses.MISSING else f"the default is {default!r}; remove the key to use it"
        if not _matches(value, expected):
            check.fail(path + (key,), f"expected {_hint_name(expected)}, got {describe(value)}", fix)
        if builtin and isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            check.fail(path + (key,), f"expected a number >= 0, got {value!r}", fix)


def _plain_type(hint: Any) -> tuple | None:
    """``int``, ``float | None``, ... -> a tuple of plain types; None for anything richer."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    plain = (int, float, str, bool, type(None))
    return tuple(args) if args and all(a in plain for a in args) else None


def _matches(value: Any, kinds: tuple) -> bool:
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds)


def _hint_name(kinds: tuple) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true/false", type(None): "null"}
    return " or ".join(names[t] for t in kinds)
