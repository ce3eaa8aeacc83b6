"""The tuned protocol (docs/tuned.md): every method gets the same honest tuning
budget, on its training shots only.

For each (method, dataset, shots, seed) of the grid the expansion emits:

- the recipe trial: the ``few_shot`` trial of the same cell (same trial id as
  a few-shot suite's, so the published recipe and the tuned one sit side by side);
- ``configs`` search trials: the recipe itself, then configurations sampled from
  the method's ``search_space()`` (methods/search_space.py), each trained on the
  K shots minus a held-out share per class and scored on that share after every
  epoch. The orchestrator runs them under one scheduler per cell (ASHA by
  default, see :meth:`Tuned.early_stopping`), which stops bad ones early;
- the final trial, which depends on the search trials (they run in an earlier
  wave, as a frozen-feature trial's White Box does), picks the configuration
  with the best validation score, retrains it on all K shots and is scored once
  on the test split.

The test split is never loaded by a search trial (``tuned_trials.run_search``).
With one shot per class there is nothing to hold out: no search, the final
trial runs the recipe (its row says so). A method with an empty search space
(the linear probe picks its C on held-out shots itself) likewise.
"""
from __future__ import annotations

from dataclasses import replace

from ...methods.base import ConfigError
from ...methods.registry import resolve_method
from ...methods.search_space import sample_configs, split_keys
from ..grid import classification_grid
from ..spec import TrialSpec
from ..training import TrainingConfig
from .base import EarlyStopping, Protocol, ProtocolInputs, register_protocol
from .few_shot import zero_shot_config
from .tuned_config import ROLE_FINAL, ROLE_SEARCH, SCHEDULERS, TunedConfig, config_of  # noqa: F401

def cell_key(spec: TrialSpec) -> tuple:
    """What one search is for (its sampling seed and its scheduler group)."""
    return (spec.method, spec.dataset, spec.backbone_name, spec.shots, spec.seed, spec.trial_id)


def can_search(spec: TrialSpec) -> bool:
    return spec.shots >= 2 and bool(resolve_method(spec.method, spec.plugin).search_space())


@register_protocol
class Tuned(Protocol):
    """Search on held-out training shots under a Ray Tune scheduler, retrain the best on all K, test once."""

    name = "tuned"
    Config = TunedConfig

    @classmethod
    def check(cls, cfg: TunedConfig) -> None:
        if not 0.0 < cfg.val_share < 1.0:
            raise ConfigError(f"expected a share strictly between 0 and 1, got {cfg.val_share!r}", field="val_share")

    @classmethod
    def expand(cls, suite) -> list[TrialSpec]:
        recipe_suite = replace(suite, protocol_config=zero_shot_config(suite))  # few_shot's own keys only
        specs: list[TrialSpec] = []
        for base in classification_grid(recipe_suite, "few_shot", zero_shot_config(suite)):
            specs.append(base)  # the recipe (or the zero-shot trial)
            if base.protocol != "few_shot":
                continue
            final = replace(base, protocol=cls.name, protocol_config={**suite.protocol_config, "role": ROLE_FINAL})
            _check_space(final)
            specs.extend(search_specs(final))
            specs.append(final)
        return specs

    @classmethod
    def dependencies(cls, spec: TrialSpec) -> list[TrialSpec]:
        return search_specs(spec) if spec.protocol_config.get("role") == ROLE_FINAL else []

    @classmethod
    def early_stopping(cls, spec: TrialSpec) -> EarlyStopping | None:
        pc = spec.protocol_config
        if pc.get("role") != ROLE_SEARCH or pc.get("scheduler", "asha") == "fifo":
            return None
        cfg = config_of(spec)
        return EarlyStopping(group=pc["search_of"], scheduler=cfg.scheduler, max_t=cfg.max_epochs,
                             grace_period=cfg.grace_period, reduction_factor=cfg.reduction_factor)

    @classmethod
    def run(cls, inputs: ProtocolInputs):
        from .tuned_trials import run_final, run_search  # torch-heavy: only where a trial runs

        role = inputs.spec.protocol_config.get("role")
        return run_search(inputs) if role == ROLE_SEARCH else run_final(inputs, cls.dependencies(inputs.spec))


def search_specs(final: TrialSpec) -> list[TrialSpec]:
    """The search trials of a final trial, a pure function of it (so
    ``dependencies`` rebuilds them from the final spec alone)."""
    if not can_search(final):
        return []
    cfg = config_of(final)
    method_cls = resolve_method(final.method, final.plugin)
    space = method_cls.search_space()
    method_keys, training_keys = split_keys(space, method_cls.Config, TrainingConfig.field_names(), final.method)
    configs = sample_configs(space, final.method_config, final.training, cfg.configs, cfg.max_epochs,
                             cell_key(final)[:-1])
    out = []
    for i, values in enumerate(configs):
        pc = {**final.protocol_config, "role": ROLE_SEARCH, "config": i, "searched": values,
              "search_of": final.trial_id}
        out.append(replace(final, protocol_config=pc,
                           method_config={**final.method_config, **{k: values[k] for k in method_keys}},
                           training={**final.training, **{k: values[k] for k in training_keys}}))
    return out


def _check_space(spec: TrialSpec) -> None:
    method_cls = resolve_method(spec.method, spec.plugin)
    try:
        split_keys(method_cls.search_space(), method_cls.Config, TrainingConfig.field_names(), spec.method)
    except ValueError as err:
        raise ConfigError(str(err), field="name") from None
