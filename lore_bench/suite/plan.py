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


def stored_statuses(store, trial_ids) -> dict[str, str]:
    """The stored status of each of ``trial_ids`` that has rows: ok, or else
    failed (any failed row) or diverged. Reads ``store.trials()`` only when a
    trial is stored but not ok."""
    done = store.completed_trial_ids()
    out = {t: "ok" for t in trial_ids if t in done}
    if len(out) < len(set(trial_ids)):
        df = store.trials()
        if not df.empty:
            wanted = set(trial_ids) - done
            for trial_id, status in df[df["trial_id"].isin(wanted)].groupby("trial_id")["status"]:
                out[trial_id] = "failed" if (status == "failed").any() else "diverged"
    return out


def settled_ids(statuses: dict[str, str], retry_failed: bool = False, retry_diverged: bool = False) -> set[str]:
    """The trials a run does not redo: stored ok, and stored failed or diverged
    unless asked to retry those (``--retry-failed`` / ``--retry-diverged``)."""
    redo = {"failed"} if retry_failed else set()
    redo |= {"diverged"} if retry_diverged else set()
    return {t for t, status in statuses.items() if status not in redo}


def plan_pending(specs: list[TrialSpec], store, has_checkpoint: Callable[[TrialSpec], bool] = lambda s: True,
                 retry_failed: bool = False, retry_diverged: bool = False) -> tuple[list[TrialSpec], dict[str, str]]:
    """(the trials to run, the stored status of the run's trials). A stored ok
    dependency whose checkpoint is gone runs again; one stored failed or
    diverged is not (its dependents are recorded failed instead)."""
    statuses = stored_statuses(store, [s.trial_id for s in specs])
    settled = settled_ids(statuses, retry_failed, retry_diverged)
    todo = pending_specs(specs, settled,
                         has_checkpoint=lambda s: statuses.get(s.trial_id) != "ok" or has_checkpoint(s))
    return todo, statuses


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
