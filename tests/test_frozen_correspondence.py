"""SPair-71k PCK: the resize-and-pad keypoint transform, matching, the pooled
per-category arithmetic and the whole procedure on a generated SPair layout."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from lore_bench.benchmarks.base import DatasetMissingError
from lore_bench.benchmarks.frozen import correspondence as cs
from fixtures import frozen_data as fixtures


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_keypoint_transform_landscape_and_portrait():
    vis = np.array([True, True, False])
    kps = np.array([[60.0, 40.0], [0.0, 0.0], [5.0, 5.0]])
    s = 224 / 120
    out = cs.transform_keypoints(kps, vis, 120, 80, 224)  # new height round(149.33) = 149, offset 37
    np.testing.assert_allclose(out[0], [60 * s, 40 * s + 37])
    np.testing.assert_allclose(out[1], [0, 37])
    np.testing.assert_allclose(out[2], [0, 0])  # not visible: Walmer's (0, 0)
    out = cs.transform_keypoints(kps, vis, 80, 120, 224)
    np.testing.assert_allclose(out[0], [60 * s + 37, 40 * s])


def test_resize_pad_places_the_image_where_the_keypoints_go():
    img = Image.new("RGB", (120, 80), (255, 255, 255))
    canvas = np.asarray(cs.resize_pad(img, 224)).sum(-1)
    rows = np.flatnonzero(canvas.sum(1))
    assert (rows.min(), rows.max()) == (37, 37 + 149 - 1)
    assert canvas.shape == (224, 224)


def test_upsampled_sampling_and_matching_equal_the_dense_computation():
    g = torch.Generator().manual_seed(0)
    feats = F.normalize(torch.randn(6, 8, 8, generator=g), dim=0)
    dense = F.interpolate(feats[None], size=(32, 32), mode="bilinear", align_corners=False)[0]
    rows, cols = torch.tensor([0, 5, 31, 17]), torch.tensor([0, 30, 31, 3])
    torch.testing.assert_close(cs.sample_upsampled(feats, rows, cols, 32), dense[:, rows, cols].T)
    vec = dense[:, rows, cols].T
    sim = vec @ dense.reshape(6, -1)  # [4, 32*32], the spec's dense computation
    pred = cs.nearest_pixels(vec, feats, 32)
    # Same maximum (the border rows/cols of an upsampled map hold exact ties, so
    # compare the similarity reached, not the index).
    torch.testing.assert_close(sim[torch.arange(4), pred[:, 1] * 32 + pred[:, 0]], sim.max(dim=1).values)


def identical_pairs(root, shift=0.0):
    """Replace the fixture's test pairs by image-with-itself pairs (target keypoints shifted)."""
    base = root / "SPair-71k"
    for f in (base / "PairAnnotation" / "test").glob("*.json"):
        f.unlink()
    pid = 1
    for ann_file in sorted((base / "ImageAnnotation").glob("*/*.json")):
        ann = json.loads(ann_file.read_text())
        shifted = {k: (None if v is None else [v[0] + shift, v[1]]) for k, v in ann["kps"].items()}
        fixtures.write_pair(base, pid, ann["category"], ann, ann, trg_kps=shifted)
        pid += 1
    return pid - 1


def test_positional_oracle_on_identical_pairs_gives_pck_100(tmp_path):
    fixtures.make_spair(tmp_path)
    identical_pairs(tmp_path)
    for mutual in (False, True):
        m, n = cs.evaluate(fixtures.PositionalOracle(), tmp_path, "spair71k", {"pairs_per_category": 0, "mutual_nn": mutual})
        assert n == 6 and m["num_keypoints"] == 24  # 6 images x 4 visible keypoints
        assert (m["pck@0.1"], m["pck@0.05"], m["pck@0.01"]) == (100.0, 100.0, 100.0)


def test_shifted_target_gives_predictable_misses(tmp_path):
    # Oracle predicts the source position; the truth is 8 px (original) to the right.
    # Threshold = 0.1 * 106 (landscape box) or 0.1 * 110 (portrait) > 8 > 0.05 * either.
    fixtures.make_spair(tmp_path)
    identical_pairs(tmp_path, shift=8.0)
    m, _ = cs.evaluate(fixtures.PositionalOracle(), tmp_path, "spair71k", {"pairs_per_category": 0})
    assert (m["pck@0.1"], m["pck@0.05"], m["pck@0.01"]) == (100.0, 0.0, 0.0)


def test_colour_oracle_across_different_images_and_orientations(tmp_path):
    # Each keypoint id is a disc of its own colour: matching colours across two
    # different images (landscape -> portrait too) lands inside the target disc
    # only if image and keypoint transforms agree.
    fixtures.make_spair(tmp_path)
    m, n = cs.evaluate(fixtures.ColourOracle(patch_size=2, image_size=224), tmp_path, "spair71k", {"pairs_per_category": 0})
    assert n == 6 and m["num_keypoints"] == 18
    assert m["pck@0.1"] == 100.0 and m["pck@0.05"] == 100.0


def test_pck_is_pooled_per_category_then_averaged():
    out = cs.pck_summary({"a": np.array([3, 1, 0]), "b": np.array([1, 1, 1])}, {"a": 4, "b": 1})
    assert out["per_category"]["a"]["pck@0.1"] == 75.0
    assert (out["pck@0.1"], out["pck@0.05"], out["pck@0.01"]) == (87.5, 62.5, 50.0)  # pooled over keypoints: 80


@pytest.mark.parametrize("separator", [":", "_"])
def test_both_pair_file_name_styles_are_found(tmp_path, separator):
    fixtures.make_spair(tmp_path, separator=separator)
    root = cs.find_root(tmp_path)
    assert cs.categories(root) == ["bird", "car"]
    assert [len(cs.pair_files(root, c)) for c in ("bird", "car")] == [3, 3]


def test_loader_scatters_keypoints_into_slots(tmp_path):
    fixtures.make_spair(tmp_path)
    root = cs.find_root(tmp_path)
    pair = cs.load_pair(root, cs.pair_files(root, "bird")[0], "bird")
    assert pair.src_kps.shape == (5, 2) and pair.visible.sum() == 3  # images 0, 1 miss slots 0, 1
    assert not pair.visible[0] and not pair.visible[1]


def test_sampling_matches_walmer_global_seed(tmp_path):
    fixtures.make_spair(tmp_path)
    root = cs.find_root(tmp_path)
    picked = cs.sample_pairs(root, per_category=20, seed=42)
    np.random.seed(42)
    expected = [(c, cs.pair_files(root, c)[i]) for c in ("bird", "car") for i in np.random.choice(3, 20)]
    assert picked == expected and len(picked) == 40


def test_missing(tmp_path):
    with pytest.raises(DatasetMissingError, match="SPair-71k.tar.gz"):
        cs.find_root(tmp_path)
    assert cs.doctor(tmp_path).status == "missing"
    fixtures.make_spair(tmp_path)
    report = cs.doctor(tmp_path)
    assert report.status == "found" and report.counts == {"categories": 2, "images": 6, "test_pairs": 6}
