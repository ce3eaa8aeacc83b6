"""One Tune loop per run: the searcher that hands out ready trials (orchestrate/trial_queue.py)
and the split of a run's wall time (orchestrate/timeline.py). No Ray is started."""
from __future__ import annotations

import pytest
from ray.tune.search import Searcher

from lore_bench.suite.orchestrate.timeline import Timeline
from lore_bench.suite.orchestrate.trial_queue import TrialQueue, queue_order
from lore_bench.suite.plan import dependencies
from lore_bench.suite.spec import TrialSpec
from lore_bench.suite.config import load_suite
from lore_bench.suite.expand import expand

SUITE = """
name: q
backbones: [micro_clip]
datasets: [sklearn_digits]
methods: {coop: {}, tip_adapter_f: {}}
protocol: {name: tuned, shots: [8], seeds: [1], configs: 2, max_epochs: 2}
training: {epochs: 2}
"""


@pytest.fixture
def specs(tmp_path) -> list[TrialSpec]:
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE)
    return expand(load_suite(path))


def _queue(specs, ok: set, settled: set, blocked: list):
    return TrialQueue(specs, {"checkpoint_dir": "/x"}, is_ok=ok.__contains__, is_settled=settled.__contains__,
                      on_blocked=lambda spec, dep: blocked.append((spec.trial_id, dep.trial_id)))


def test_dependents_wait_for_their_dependency_then_go_before_independent_trials(specs):
    hard = [s for s in specs if dependencies(s)]
    assert hard, "a tuned cell's final trial depends on its searches"
    dep_ids = {d.trial_id for s in hard for d in dependencies(s)}
    ok, blocked = set(), []
    queue = _queue(specs, ok, set(), blocked)
    handed = []
    while (config := queue.suggest(f"t{len(handed)}")) not in (None, Searcher.FINISHED):
        handed.append(TrialSpec.from_json(config["spec"]).trial_id)
        assert config["checkpoint_dir"] == "/x"
    # Nothing that depends on a trial is handed out before that trial is stored ok.
    assert not {s.trial_id for s in hard} & set(handed)
    assert dep_ids <= set(handed)
    assert handed.index(min(dep_ids, key=handed.index)) == 0  # dependencies go first
    ok.update(dep_ids)  # the driver stored them
    config = queue.suggest("next")
    assert TrialSpec.from_json(config["spec"]).trial_id in {s.trial_id for s in hard}
    while queue.suggest("more") not in (None, Searcher.FINISHED):
        pass
    assert queue.suggest("end") == Searcher.FINISHED and not blocked


def test_a_failed_dependency_blocks_its_dependents_once(specs):
    hard = [s for s in specs if dependencies(s)]
    dep_ids = {d.trial_id for s in hard for d in dependencies(s)}
    settled, blocked = set(), []
    queue = _queue([s for s in specs if s.trial_id not in dep_ids] + [s for s in specs if s.trial_id in dep_ids],
                   set(), settled, blocked)
    while queue.suggest("x") not in (None, Searcher.FINISHED):
        pass
    settled.update(dep_ids)  # they ended failed
    assert queue.suggest("y") == Searcher.FINISHED
    assert sorted(b[0] for b in blocked) == sorted(s.trial_id for s in hard)


def test_dependency_cycle_is_refused_before_anything_runs(specs, monkeypatch):
    a, b = specs[:2]
    import lore_bench.suite.orchestrate.trial_queue as trial_queue
    import lore_bench.suite.plan as plan

    for module in (plan, trial_queue):
        monkeypatch.setattr(module, "dependencies", lambda s: [b] if s is a else [a])
    with pytest.raises(ValueError, match="cycle"):
        queue_order([a, b])


def test_timeline_parts_add_up_to_the_wall_time():
    tl = Timeline(slots=2, t0=0.0, ray_ready=4.0, t1=30.0)
    tl.add(6.0, 16.0, own=9.0)  # slot 1
    tl.add(6.5, 12.0, own=5.0)  # slot 2
    tl.add(12.5, 28.0, own=15.0)
    tl.add(16.0, 27.0, own=10.0)
    parts = tl.split()
    assert parts["ideal"] == pytest.approx((9 + 5 + 15 + 10) / 2)
    assert parts["before"] == pytest.approx(6.0) and parts["after"] == pytest.approx(2.0)
    assert parts["ray_start"] == pytest.approx(4.0)
    assert sum(v for k, v in parts.items() if k != "ray_start") == pytest.approx(tl.wall)
    assert parts["idle"] == pytest.approx((2 * 22.0 - (10 + 5.5 + 15.5 + 11)) / 2)
    assert "x 1.54" in tl.summary_line()
