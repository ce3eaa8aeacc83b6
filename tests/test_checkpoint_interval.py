"""Checkpoints at most every `training.checkpoint_every_s` seconds, the last epoch only when it is read later,
and a resumed trial still equals an uninterrupted one."""
from __future__ import annotations

import pytest

from conftest import make_spec
from lore_bench import run_trial
from lore_bench.suite.engine import checkpoint as ckpt_module
from lore_bench.suite.engine.checkpoint import StageCheckpoint


@pytest.fixture
def saves(monkeypatch):
    """The (stage, epoch) of every checkpoint written."""
    written = []
    real = StageCheckpoint.save

    def counting(self, stage, state):
        written.append((stage, state["epoch"] + 1))
        real(self, stage, state)

    monkeypatch.setattr(StageCheckpoint, "save", counting)
    return written


def _spec(every_s):
    return make_spec(training={"epochs": 4, "augment": False, "batch_size": 8, "checkpoint_every_s": every_s})


def test_a_large_interval_writes_fewer_checkpoints(tmp_path, saves):
    run_trial(_spec(0), checkpoint_dir=tmp_path / "a")
    assert saves == [("main", 1), ("main", 2), ("main", 3), ("main", 4)]  # 0: every epoch, as before
    saves.clear()
    run_trial(_spec(3600), checkpoint_dir=tmp_path / "b")
    assert saves == [("main", 4)]  # only the final state, which a later trial may read
    saves.clear()
    run_trial(_spec(3600), checkpoint_dir=tmp_path / "c", keep_checkpoint=False)
    assert saves == []  # nobody reads it and the orchestrator would delete it: not written at all


def test_the_interval_is_not_part_of_the_trial_id():
    assert _spec(0).trial_id == _spec(3600).trial_id


def test_resume_after_an_interval_checkpoint_equals_uninterrupted(tmp_path, saves, monkeypatch):
    full = run_trial(_spec(2.5))
    clock = iter(range(1000))  # one tick per look at the clock: a save becomes due every third epoch
    monkeypatch.setattr(ckpt_module.time, "monotonic", lambda: float(next(clock)))

    class Stop(Exception):
        pass

    def stop_after_three(record):
        if record["epoch"] == 3:
            raise Stop

    with pytest.raises(Stop):
        run_trial(_spec(2.5), on_epoch=stop_after_three, checkpoint_dir=tmp_path)
    assert saves == [("main", 3)]
    replayed = []
    resumed = run_trial(_spec(2.5), on_epoch=lambda r: replayed.append(r["epoch"]), checkpoint_dir=tmp_path)
    assert replayed == [4]  # epochs 1-3 came from the checkpoint
    assert [e["epoch"] for e in resumed.epochs] == [1, 2, 3, 4]
    assert resumed.rows[0]["top1"] == pytest.approx(full.rows[0]["top1"])
    assert resumed.epochs[-1]["train_loss"] == pytest.approx(full.epochs[-1]["train_loss"], rel=1e-5)
