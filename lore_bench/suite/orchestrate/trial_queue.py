"""One Tune loop for a whole run: the pending trials, each handed to Tune once
every trial it depends on is stored ok.

Before, trials that others depend on (a White Box, an easy stage, a tuned
cell's searches) ran in an earlier *wave*, each wave its own Tune loop: every
wave waited for its slowest trial while the other slots idled, and started its
workers afresh (imports and backbone builds again). A Tune searcher that
suggests the next ready trial lets a dependent start the moment its last
dependency is stored, on a worker that is already warm.
"""
from __future__ import annotations

from typing import Callable

from ray.tune.search import Searcher

from ..plan import dependencies, waves
from ..spec import TrialSpec


class TrialQueue(Searcher):
    """Suggests ``{"spec": ..., **common}`` for the first queued trial whose
    dependencies are all stored ok; ``None`` while every queued trial waits on a
    running one; ``FINISHED`` once all are handed out.

    ``is_ok(trial_id)``: stored ok (before or during this run).
    ``is_settled(trial_id)``: will not be stored ok by this run any more (it
    ended failed or diverged, or it is not part of the run).
    ``on_blocked(spec, dependency)``: a trial whose dependency will never be ok;
    it is dropped from the queue and the callback records it failed.
    """

    def __init__(self, specs: list[TrialSpec], common: dict, is_ok: Callable[[str], bool],
                 is_settled: Callable[[str], bool], on_blocked: Callable[[TrialSpec, TrialSpec], None]):
        super().__init__()
        self._queue = queue_order(specs)
        self._deps = {s.trial_id: dependencies(s) for s in self._queue}
        self._common = common
        self._is_ok, self._is_settled, self._on_blocked = is_ok, is_settled, on_blocked

    def __len__(self) -> int:
        return len(self._queue)

    def suggest(self, trial_id: str):
        i = 0
        while i < len(self._queue):
            spec = self._queue[i]
            waiting = [d for d in self._deps[spec.trial_id] if not self._is_ok(d.trial_id)]
            blocked = next((d for d in waiting if self._is_settled(d.trial_id)), None)
            if blocked is not None:
                self._queue.pop(i)
                self._on_blocked(spec, blocked)
                continue
            if not waiting:
                self._queue.pop(i)
                return {"spec": spec.to_json(), **self._common}
            i += 1
        return Searcher.FINISHED if not self._queue else None

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        """Nothing to learn: what is done is what the store holds (``is_ok``)."""

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: a restarted driver plans again from the store."""

    def restore(self, checkpoint_path: str) -> None:
        """See :meth:`save`."""


def queue_order(specs: list[TrialSpec]) -> list[TrialSpec]:
    """Trials in a dependency relation first, in dependency order (a cycle is
    an error before anything runs), then the independent ones as given.

    :meth:`TrialQueue.suggest` takes the first ready trial, so a dependent runs as
    soon as its dependencies are stored, ahead of the independent trials: those
    fill the slots while it waits, and the run does not end on a chain of them.
    """
    ids = {s.trial_id for s in specs}
    linked = set()
    for spec in specs:
        deps = [d.trial_id for d in dependencies(spec) if d.trial_id in ids]
        if deps:
            linked.add(spec.trial_id)
            linked.update(deps)
    ordered = [spec for wave in waves(specs) for spec in wave]
    return [s for s in ordered if s.trial_id in linked] + [s for s in specs if s.trial_id not in linked]
