"""What a run still has to do, decided by the results store (never by Tune's
state), and in which order: trials another trial depends on (a frozen task's
White Box) go in an earlier wave. No Ray, no torch: the dry run uses it too."""
from __future__ import annotations

from typing import Callable

from .protocols import resolve_protocol
from .spec import TrialSpec


def dependencies(spec: TrialSpec) -> list[TrialSpec]:
    return resolve_protocol(spec.protocol, spec.protocol_plugin).dependencies(spec)


def with_dependencies(specs: list[TrialSpec]) -> list[TrialSpec]:
    """``specs`` plus every trial they depend on (a ``--only`` filter may have dropped them)."""
    out = {s.trial_id: s for s in specs}
    for spec in specs:
        for dep in dependencies(spec):
            out.setdefault(dep.trial_id, dep)
    return list(out.values())


def pending_specs(specs: list[TrialSpec], done: set[str],
                  has_checkpoint: Callable[[TrialSpec], bool] = lambda s: True) -> list[TrialSpec]:
    """The trials not stored as done. A stored dependency whose checkpoint is
    gone (another machine, deleted) runs again when a pending trial needs it."""
    todo = {s.trial_id: s for s in specs if s.trial_id not in done}
    for spec in list(todo.values()):
        for dep in dependencies(spec):
            if dep.trial_id not in todo and not has_checkpoint(dep):
                todo[dep.trial_id] = dep
    listed = {s.trial_id for s in specs}
    return [s for s in specs if s.trial_id in todo] + [s for i, s in todo.items() if i not in listed]


def waves(todo: list[TrialSpec]) -> list[list[TrialSpec]]:
    """Pending trials in dependency order: each wave needs only earlier waves."""
    remaining = {s.trial_id: s for s in todo}
    placed: set[str] = set()
    out: list[list[TrialSpec]] = []
    while remaining:
        wave = [s for s in remaining.values()
                if all(d.trial_id in placed or d.trial_id not in remaining for d in dependencies(s))]
        if not wave:
            raise ValueError("trials depend on each other in a cycle: " + ", ".join(remaining))
        out.append(wave)
        for s in wave:
            placed.add(s.trial_id)
            remaining.pop(s.trial_id)
    return out
