"""Trial packing without a GPU: GPU shares per method (suite override, measured, declared, whole), how many
trials run at once (CPUs and GPUs), and the suite keys."""
from __future__ import annotations

import pandas as pd
import pytest

from lore_bench.suite.packing import concurrency, gpu_share, measured_peaks, trials_per_gpu

H200 = 141.0
GPU = {"gpu": 1}


def test_a_small_trial_gets_a_fraction_of_the_gpu_from_its_measured_memory():
    measured = {("coop", "vit_b16"): 28 * 1024}  # MB: 28 GB * 1.2 + 1 GB context -> 4 per H200
    share = gpu_share("coop", "vit_b16", GPU, measured, None, H200)
    assert (share.gpu, share.source) == (0.25, "measured")
    assert trials_per_gpu(28, H200) == 4 and trials_per_gpu(0.1, H200) == 8  # at most 8 per GPU
    # a large trial keeps a whole GPU; an unknown method is never packed on a guess
    assert gpu_share("lore", "vit_b16", GPU, {("lore", "vit_b16"): 90 * 1024}, None, H200).gpu == 1
    assert gpu_share("vpt", "vit_b16", GPU, measured, None, H200).source == "whole"
    # another backbone's measurement does not count
    assert gpu_share("coop", "vit_l14", GPU, measured, None, H200).gpu == 1


def test_suite_override_declared_memory_and_switches():
    assert gpu_share("coop", "b", {"gpu": 1, "gpu_per_method": {"coop": 0.5}}, {}, None, None).gpu == 0.5
    assert gpu_share("m", "b", GPU, {}, 20.0, H200).source == "declared"
    assert gpu_share("m", "b", GPU, {}, 20.0, H200).gpu == 0.2  # 20 GB * 1.2 + 1 GB: 5 fit
    assert gpu_share("m", "b", {"gpu": 1, "pack": False}, {}, 20.0, H200).gpu == 1
    assert gpu_share("m", "b", GPU, {}, 20.0, None).gpu == 1  # GPU memory unknown: whole
    assert gpu_share("m", "b", {"gpu": 0}, {}, 20.0, H200).gpu == 0  # a CPU suite


def test_concurrency_counts_gpus_not_only_cpus():
    cluster = {"CPU": 16, "GPU": 1}
    assert concurrency(cluster, [(1, 1)] * 10) == 1  # one GPU, whole-GPU trials: one at a time
    assert concurrency(cluster, [(1, 0.25)] * 10) == 4  # packed: four
    assert concurrency({"CPU": 2, "GPU": 1}, [(1, 0.25)] * 10) == 2  # CPUs bound it
    assert concurrency({"CPU": 2}, [(1, 0)] * 3) == 2 and concurrency(cluster, [(1, 0.25)], 3) == 3
    assert concurrency({"CPU": 16, "GPU": 1}, [(1, 0.25), (1, 0.5)]) == 2  # at the mean share


def test_measured_peaks_read_only_ok_gpu_rows():
    rows = pd.DataFrame({"method": ["coop", "coop", "coop", "coop"], "backbone": ["b"] * 4,
                         "status": ["ok", "ok", "failed", "ok"], "peak_memory_mb": [1000.0, 3000.0, 9e9, 7e9],
                         "device": ["NVIDIA H200", "NVIDIA H200", "NVIDIA H200", "cpu x2 threads"]})
    assert measured_peaks(rows) == {("coop", "b"): 3000.0}


def test_suite_keys_are_checked(tmp_path):
    from lore_bench.suite.config import SuiteError, load_suite

    def suite(resources):
        path = tmp_path / "s.yaml"
        path.write_text("name: s\nbackbones: [micro_clip_random]\ndatasets: [sklearn_digits]\nmethods: {coop: {}}\n"
                        f"protocol: {{name: few_shot, shots: [1], seeds: [1]}}\nresources: {resources}\n")
        return load_suite(path)

    assert suite("{gpu: 1, gpu_per_method: {coop: 0.25}, pack: true}").resources["gpu_per_method"] == {"coop": 0.25}
    with pytest.raises(SuiteError, match="GPU share"):
        suite("{gpu: 1, gpu_per_method: {coop: 2}}")
