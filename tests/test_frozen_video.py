"""DAVIS 2017 label propagation and J/F, on a generated DAVIS layout."""
import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from lore_bench.benchmarks.base import DatasetMissingError
from fixtures import frozen_data as fixtures
from lore_bench.benchmarks.frozen import video_segmentation as vs
from lore_bench.benchmarks.frozen import vos_metrics as vm

SMALL = {"short_side": 64, "multiple": 16}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def square(shape, top, left, size):
    m = np.zeros(shape, dtype=bool)
    m[top : top + size, left : left + size] = True
    return m


def test_boundary_tolerance_is_8px_at_854x480():
    assert vm.boundary_tolerance((480, 854)) == 8
    assert vm.disk(8).sum() == 197 and vm.disk(1).sum() == 5


def test_seg2bmap_by_hand():
    m = np.zeros((4, 4), dtype=bool)
    m[1:3, 1:3] = True
    expected = np.array([[1, 1, 1, 0], [1, 0, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(vm.seg2bmap(m), expected)
    full = np.ones((3, 3), dtype=bool)  # last row/column compare only along the edge
    assert not vm.seg2bmap(full).any()


def test_distance_transform_matching_equals_disk_dilation():
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = vm.seg2bmap(ndimage.binary_opening(rng.random((60, 90)) > 0.6))
        b = vm.seg2bmap(ndimage.binary_opening(rng.random((60, 90)) > 0.6))
        for r in (1, 3, 8):
            dilated = ndimage.binary_dilation(b, structure=vm.disk(r))
            assert vm._near(a, b, r) == int((a & dilated).sum())


def test_j_f_values():
    gt = square((96, 128), 20, 20, 10)
    assert vm.jaccard(gt, gt) == 1.0 and vm.f_measure(gt, gt) == 1.0
    assert vm.jaccard(square((96, 128), 20, 22, 10), gt) == pytest.approx(80 / 120)
    empty = np.zeros_like(gt)
    assert vm.jaccard(empty, empty) == 1.0 and vm.f_measure(empty, empty) == 1.0
    assert vm.f_measure(empty, gt) == 0.0 and vm.f_measure(gt, empty) == 0.0
    far = square((96, 128), 70, 100, 10)
    assert vm.f_measure(far, gt) == 0.0  # boundaries far apart: P = R = 0


def test_statistics_decay_bins():
    mean, recall, decay = vm.statistics(np.array([1.0, 1.0, 0.0, 0.0]))
    assert (mean, recall, decay) == (0.5, 0.5, 1.0)


def test_gt_as_prediction_and_first_last_frames_skipped(tmp_path):
    root = fixtures.make_davis(tmp_path, sequences=("seqA",))
    gts = [vs.read_annotation(p) for p in sorted((root / "Annotations/480p/seqA").glob("*.png"))]
    preds = [g.copy() for g in gts]
    preds[0][:] = 0  # the first and last frames are not scored
    preds[-1][:] = 2
    per_obj = vm.evaluate_sequence(gts, preds)
    assert sorted(per_obj) == [1, 2]
    for j, f in per_obj.values():
        assert len(j) == len(gts) - 2 and (j == 1).all() and (f == 1).all()
    assert vm.summarize([("seqA", k, j, f) for k, (j, f) in per_obj.items()])["J&F_mean"] == 100.0
    preds[1][:] = 0  # an unscored frame no more: objects missing -> J = F = 0 there
    assert vm.evaluate_sequence(gts, preds)[1][0][0] == 0.0
    preds[2][0, 0] = 3  # id above the 2 objects of frame 0
    with pytest.raises(ValueError, match="object id 3"):
        vm.evaluate_sequence(gts, preds)


def test_means_are_pooled_over_objects_not_sequences():
    ones, zeros = np.ones(4), np.zeros(4)
    out = vm.summarize([("a", 1, ones, ones), ("a", 2, zeros, zeros), ("b", 1, ones, ones)])
    assert out["J_mean"] == pytest.approx(200 / 3)  # per-sequence averaging would give 75
    assert out["num_objects"] == 3


def test_target_size_and_first_labels():
    assert vs.target_size(854, 480, {"resize": "short_side", **vs.PRESETS["dino"]}) == (832, 480)
    assert vs.target_size(128, 96, {"resize": "short_side", **SMALL}) == (80, 64)
    assert vs.target_size(96, 128, {"resize": "short_side", **SMALL}) == (64, 80)
    assert vs.target_size(854, 480, {"resize": "square", "imsize": 224}) == (224, 224)
    seg = np.zeros((96, 128), dtype=np.uint8)
    seg[:48, :64], seg[0, 0] = 2, 255
    lab = vs.first_labels(np.where(seg == 255, 0, seg), (4, 5))
    assert lab.shape == (3, 4, 5) and torch.allclose(lab.sum(0), torch.ones(4, 5))


def test_propagation_respects_the_neighbourhood():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(3, 4, 5, 8, generator=g)
    labels0 = torch.nn.functional.one_hot(torch.arange(20).reshape(4, 5) % 3, 3).permute(2, 0, 1).float()
    cfg = {**vs.DEFAULTS, "size_mask_neighborhood": 0}
    first = next(vs.propagate(feats, labels0, cfg))  # radius 0: each patch copies itself
    torch.testing.assert_close(first, labels0)


def test_colour_oracle_propagates_the_squares(tmp_path):
    fixtures.make_davis(tmp_path)
    out = tmp_path / "out"
    metrics, n = vs.evaluate(fixtures.ColourOracle(patch_size=4), tmp_path, "davis2017", {**SMALL, "output_dir": str(out)})
    assert n == 2 and metrics["num_objects"] == 4 and metrics["num_frames_scored"] == 8
    # On a 16x20 grid a perfect propagation is still limited by the patch size: the
    # ceiling is the GT itself taken down to the grid and back up (J 85, F 93 here).
    ceiling = []
    for seq in ("seqA", "seqB"):
        gts = [vs.read_annotation(p) for p in sorted((tmp_path / "DAVIS/Annotations/480p" / seq).glob("*.png"))]
        down_up = [vs.labels_to_mask(vs.first_labels(g, (16, 20)), 4, g.shape) for g in gts]
        ceiling += [(seq, k, j, f) for k, (j, f) in vm.evaluate_sequence(gts, down_up).items()]
    ceiling = vm.summarize(ceiling)
    assert metrics["J_mean"] > 80 and metrics["J_mean"] >= ceiling["J_mean"] - 2
    assert metrics["F_mean"] > 90 and metrics["F_mean"] >= ceiling["F_mean"] - 2
    png = Image.open(out / "dino" / "seqA" / "00003.png")
    assert png.mode == "P" and png.size == (128, 96)
    assert set(np.unique(np.array(png))) <= {0, 1, 2}
    np.testing.assert_array_equal(  # frame 0 is the ground truth
        np.array(Image.open(out / "dino" / "seqA" / "00000.png")),
        np.array(Image.open(tmp_path / "DAVIS/Annotations/480p/seqA/00000.png")),
    )


def test_cross_check_with_vos_benchmark(tmp_path):
    evaluator = pytest.importorskip("vos_benchmark.evaluator", reason="vos-benchmark (and opencv) not installed")
    root = fixtures.make_davis(tmp_path, sequences=("seqA",), size=(256, 192), square=40)
    gts = [vs.read_annotation(p) for p in sorted((root / "Annotations/480p/seqA").glob("*.png"))]
    rng = np.random.default_rng(1)
    preds = []
    for t, g in enumerate(gts):  # shifted, eroded, spurious blobs, a missing object
        p = np.roll(g, shift=(t % 3, 2 * t), axis=(0, 1))
        p[ndimage.binary_erosion(p == 2, iterations=2) ^ (p == 2)] = 0
        p[rng.random(p.shape) > 0.998] = 1
        if t == 3:
            p[p == 2] = 0
        preds.append(p.astype(np.uint8))
    ours = vm.evaluate_sequence(gts, preds)
    ref = evaluator.Evaluator(name="seqA")
    for p, g in zip(preds[1:-1], gts[1:-1]):
        ref.feed_frame(p, g)
    ref_j, ref_f = ref.conclude()
    for k, (j, f) in ours.items():
        assert 100 * j.mean() == pytest.approx(ref_j[k], abs=1e-9)
        assert 100 * f.mean() == pytest.approx(ref_f[k], abs=1e-9)


def test_missing_and_doctor(tmp_path):
    with pytest.raises(DatasetMissingError, match="DAVIS-2017-trainval-480p.zip"):
        vs.find_root(tmp_path)
    assert vs.doctor(tmp_path).status == "missing"
    root = fixtures.make_davis(tmp_path)
    assert vs.doctor(tmp_path).counts == {"val_sequences": 2, "val_sequences_present": 2}
    for f in (root / "Annotations/480p/seqB").glob("*.png"):
        f.unlink()
    assert vs.doctor(tmp_path).status == "partial"
