"""perf/gpu_device_check.py --smoke: the GPU speed script runs end to end on CPU at tiny sizes (so it is known
to work before a GPU is lent) and writes every table it promises."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

PERF = Path(__file__).resolve().parent.parent / "perf"


@pytest.mark.slow
def test_the_device_script_runs_on_cpu_in_smoke_mode(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(PERF))
    sys.modules.pop("gpu_device_check", None)
    import gpu_device_check

    results = gpu_device_check.main(["--smoke", "--out", str(tmp_path), "--device", "cpu"])
    assert json.loads((tmp_path / "results.json").read_text())["smoke"] is True
    coop = results["methods"]["coop"]
    assert coop["train_img_s"] > 0 and coop["eval_img_s"] > 0 and coop["train_gflop_per_image"] > 0
    assert [r["device"] for r in results["loader"]] == ["cpu", "cpu"]
    assert results["packing"]["trials"] >= 2 and results["packing"]["gain"] > 0
    projection = results["projection"]
    assert projection["trials"] > 100 and 0 < projection["packed_hours"] <= projection["serial_hours"]
