"""Revisited Oxford/Paris retrieval: the mAP of the revisited protocol, the loader,
the preprocessing, and the whole procedure on generated fixtures."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from lore_bench.benchmarks.base import DatasetMissingError
from lore_bench.benchmarks.frozen import retrieval
from fixtures import frozen_data as fixtures
from lore_bench.benchmarks.frozen.retrieval import average_precision, compute_map


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ranks_with(order):
    return np.asarray(order)[:, None]


@pytest.mark.parametrize(
    "positions,n_ok,expected", [([0, 2], 2, 0.791667), ([1, 3], 2, 0.333333), ([1], 1, 0.25), ([0, 1], 2, 1.0)]
)
def test_average_precision_anchors(positions, n_ok, expected):
    assert average_precision(np.array(positions), n_ok) == pytest.approx(expected, abs=1e-6)


def test_compute_map_anchor_through_ranks():
    # database items 7 and 9 are the positives; ranked at positions 0 and 2
    m, aps, _ = compute_map(ranks_with([7, 3, 9, 1]), [([7, 9], [])])
    assert m == pytest.approx(0.791667, abs=1e-6)


def test_junk_is_skipped_not_counted_as_a_miss():
    # junk item 5 ranked first and between the positives: both move up, AP = 1
    m, _, mp = compute_map(ranks_with([5, 7, 6, 9, 1]), [([7, 9], [5, 6])])
    assert m == pytest.approx(1.0)
    assert mp.tolist() == [1.0, 1.0, 1.0]


def test_query_without_positives_is_nan_and_left_out():
    m, aps, _ = compute_map(np.array([[0, 0], [1, 1], [2, 2]]), [([1], []), ([], [0])])
    assert np.isnan(aps[1])
    assert m == pytest.approx(0.25)


def test_mp_at_k_uses_min_of_k_and_last_positive_rank():
    # positives at 1-based ranks 2 and 4
    _, _, mp = compute_map(ranks_with([0, 1, 2, 3, 4, 5]), [([1, 3], [])], ks=(1, 5, 10))
    assert mp.tolist() == [0.0, 0.5, 0.5]


def test_protocols():
    gnd = [{"easy": [1], "hard": [2], "junk": [3]}]
    assert retrieval.protocol_ground_truth(gnd, "medium") == [([1, 2], [3])]
    assert retrieval.protocol_ground_truth(gnd, "hard") == [([2], [3, 1])]
    assert retrieval.protocol_ground_truth(gnd, "easy") == [([1], [3, 2])]


@pytest.mark.parametrize("as_numpy", [False, True])
def test_oracle_one_hot_features_give_map_one(tmp_path, as_numpy):
    info = fixtures.make_retrieval(tmp_path, "roxford5k", as_numpy=as_numpy)
    ds = retrieval.load_revisited(tmp_path, "roxford5k")
    assert len(ds.imlist) == 9 and len(ds.qimlist) == 3
    assert all(isinstance(i, int) for g in ds.gnd for i in g["easy"] + g["hard"] + g["junk"])
    eye = torch.eye(3)
    ranks = retrieval.rank_database(eye[info["db_labels"]], eye[info["query_labels"]])
    metrics = retrieval.score(ranks, ds.gnd)
    assert metrics["mAP_medium"] == pytest.approx(1.0) and metrics["mAP_hard"] == pytest.approx(1.0)
    assert metrics["queries_scored_medium"] == 3 and metrics["queries_scored_hard"] == 2  # query 0: no hard
    # reversed features: every positive ranked last
    assert retrieval.score(retrieval.rank_database(-eye[info["db_labels"]], eye[info["query_labels"]]), ds.gnd)[
        "mAP_medium"
    ] < 0.5


def test_procedure_with_colour_oracle(tmp_path):
    fixtures.make_retrieval(tmp_path, "rparis6k", seed=3)
    for cfg in ({}, {"preset": "dino", "imsize": 48}):
        metrics, n = retrieval.evaluate(fixtures.ColourOracle(), tmp_path, "rparis6k", cfg)
        assert n == 3 and metrics["num_database"] == 9
        assert metrics["mAP_medium"] == pytest.approx(1.0) and metrics["mAP_hard"] == pytest.approx(1.0)
    assert metrics["settings"]["multiscale"] is True  # DINO's RParis preset


def test_preprocess_thumbnail_never_upscales_and_walmer_crops():
    img = Image.new("RGB", (64, 48))
    assert tuple(retrieval.preprocess(img.copy(), 224, "thumbnail").shape) == (3, 48, 64)
    assert tuple(retrieval.preprocess(img.copy(), 32, "thumbnail").shape) == (3, 24, 32)
    assert tuple(retrieval.preprocess(img.copy(), 224, "thumbnail_crop").shape) == (3, 224, 224)
    assert tuple(retrieval.preprocess(img.copy(), 224, "thumbnail", bbx=[0, 0, 20, 10]).shape) == (3, 10, 20)


def test_multiscale_averages_three_scales():
    seen = []

    class Recorder:
        def cls(self, x):
            seen.append(tuple(x.shape[-2:]))
            return torch.ones(x.shape[0], 4)

    out = retrieval.describe(Recorder(), iter([torch.zeros(3, 64, 64), torch.zeros(3, 64, 64)]), multiscale=True)
    assert seen == [(64, 64), (45, 45), (32, 32)]  # one batch of two, three scales
    assert torch.allclose(out.norm(dim=-1), torch.ones(2))


def test_missing_and_partial(tmp_path):
    with pytest.raises(DatasetMissingError, match="gnd_roxford5k.pkl.*revisitop"):
        retrieval.load_revisited(tmp_path, "roxford5k")
    assert retrieval.doctor(tmp_path, "roxford5k").status == "missing"
    fixtures.make_retrieval(tmp_path, "roxford5k")
    assert retrieval.doctor(tmp_path, "roxford5k").status == "found"
    os.remove(next((tmp_path / "roxford5k" / "jpg").glob("*.jpg")))
    report = retrieval.doctor(tmp_path, "roxford5k")
    assert report.status == "partial" and report.counts["images_present"] == 11
