"""The easy-to-hard protocol through the engine: one row per stage, the hard
stage trains on other images and continues from the easy-stage weights."""
from __future__ import annotations

from conftest import make_spec
from lore_bench import run_trial


def test_easy_then_hard_rows(tmp_path):
    spec = make_spec(method="coop", shots=4, protocol="easy_to_hard",
                     protocol_config={"eval_subset": 200, "hard_epochs": 2},
                     training={"epochs": 2, "augment": False})
    out = run_trial(spec, checkpoint_dir=tmp_path)
    easy, hard = out.rows
    assert (easy["stage"], hard["stage"]) == ("easy", "hard")
    assert easy["status"] == hard["status"] == "ok"
    assert easy["num_train"] == 40 and 0 < hard["num_train"] <= 40
    assert easy["shots_hash"] != hard["shots_hash"]
    assert [e["stage"] for e in out.epochs] == ["easy", "easy", "hard", "hard"]
    assert out.epochs[2]["lr"] == 5e-4  # fresh optimizer at the hard-stage lr, no warm-up
    # resumed from the checkpoints: the same rows, no training repeated
    again = run_trial(spec, checkpoint_dir=tmp_path)
    assert [r["top1"] for r in again.rows] == [r["top1"] for r in out.rows]
