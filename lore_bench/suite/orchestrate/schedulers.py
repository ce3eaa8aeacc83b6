"""Early stopping for trials a protocol marks stoppable (the tuned protocol's search).

One Tune run holds the trials of many searches (every method x dataset x shots
x seed of a wave): their validation scores are not comparable across searches,
so :class:`GroupedScheduler` keeps one Ray Tune scheduler per group
(``EarlyStopping.group``) and lets every other trial run to its end. Trials
report their metric once per epoch (``tune.report`` in the trainable).
"""
from __future__ import annotations

from typing import Callable

from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, MedianStoppingRule, TrialScheduler

from ..protocols import EarlyStopping


def build_scheduler(rule: EarlyStopping) -> TrialScheduler:
    """The Ray Tune scheduler ``rule`` names, on its metric (higher is better)."""
    if rule.scheduler == "asha":
        return AsyncHyperBandScheduler(time_attr=rule.time_attr, metric=rule.metric, mode="max", max_t=rule.max_t,
                                       grace_period=min(rule.grace_period, rule.max_t),
                                       reduction_factor=rule.reduction_factor)
    if rule.scheduler == "median_stopping":
        # min_samples_required 2: with a handful of configurations per search the
        # default 3 would rarely stop anything.
        return MedianStoppingRule(time_attr=rule.time_attr, metric=rule.metric, mode="max",
                                  grace_period=rule.grace_period, min_samples_required=2)
    if rule.scheduler == "fifo":
        return FIFOScheduler()
    raise ValueError(f"unknown scheduler '{rule.scheduler}'")


class GroupedScheduler(FIFOScheduler):
    """FIFO order; each group's trials under their own scheduler; no pausing
    (our function trainables resume from their own checkpoints, not Tune's)."""

    def __init__(self, rule_of: Callable[[object], EarlyStopping | None]):
        super().__init__()
        self._rule_of = rule_of
        self._schedulers: dict[str, TrialScheduler] = {}
        self.stopped: set[str] = set()  # Tune trial ids this scheduler stopped

    def _scheduler(self, trial) -> TrialScheduler | None:
        rule = self._rule_of(trial)
        if rule is None:
            return None
        if rule.group not in self._schedulers:
            self._schedulers[rule.group] = build_scheduler(rule)
        return self._schedulers[rule.group]

    def on_trial_add(self, tune_controller, trial):
        if (inner := self._scheduler(trial)) is not None:
            inner.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial, result):
        inner = self._scheduler(trial)
        if inner is None or self._rule_of(trial).metric not in result:
            return TrialScheduler.CONTINUE
        decision = inner.on_trial_result(tune_controller, trial, result)
        if decision == TrialScheduler.STOP:
            self.stopped.add(trial.trial_id)
            return decision
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller, trial, result):
        rule = self._rule_of(trial)
        # Only a result that carries the metric: the trial's last report holds its rows instead.
        if rule is not None and result and rule.metric in result and rule.time_attr in result:
            self._scheduler(trial).on_trial_complete(tune_controller, trial, result)

    def on_trial_error(self, tune_controller, trial):
        if (inner := self._scheduler(trial)) is not None:
            inner.on_trial_error(tune_controller, trial)  # a retried trial keeps its place

    def on_trial_remove(self, tune_controller, trial):
        if (inner := self._scheduler(trial)) is not None:
            inner.on_trial_remove(tune_controller, trial)
