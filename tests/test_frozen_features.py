"""The feature-extractor contract and the frozen-task entry point, end to end on
generated fixtures with the random-weight micro-CLIP."""
import json

import pytest
import torch

from lore_bench.backbones import build_backbone
from fixtures import frozen_data as fixtures
from lore_bench.benchmarks.frozen import (
    TABLE4_METRICS,
    FeatureExtractor,
    frozen_doctor_reports,
    run_frozen_trial,
)
from lore_bench.benchmarks.frozen.features import embed_any_size, resize_grid_positions
from lore_bench.suite.spec import TrialSpec


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def backbone():
    return build_backbone("micro_clip_random")


class ConstantPrompts:
    """A stand-in White Box: n prompts per layer, the same for every image."""

    def __init__(self, layers, n=3, width=128, scale=1.0):
        g = torch.Generator().manual_seed(0)
        self.prompts = [scale * torch.randn(n, width, generator=g) for _ in range(layers)]
        self.calls = 0

    def prompts_for(self, images):
        self.calls += 1
        return [p.expand(images.shape[0], -1, -1) for p in self.prompts]


def test_shapes_and_native_equivalence(backbone):
    fx = FeatureExtractor(backbone)
    x = torch.rand(2, 3, 32, 32)
    cls, patches = fx.tokens(x)
    assert cls.shape == (2, 128) and patches.shape == (2, 8, 8, 128)
    normed = (x - fx._mean) / fx._std
    _, tokens = backbone.forward_prompted(normed, None, return_tokens=True)
    final = backbone.final_norm(tokens)
    torch.testing.assert_close(patches, final[:, 1:].reshape(2, 8, 8, -1))
    torch.testing.assert_close(cls, final[:, 0])
    raw = FeatureExtractor(backbone, final_norm=False).patches(x)
    torch.testing.assert_close(raw, tokens[:, 1:].reshape(2, 8, 8, -1))


def test_layer_choice_stops_early(backbone):
    x = torch.rand(1, 3, 32, 32)
    fx = FeatureExtractor(backbone, layer=1, final_norm=False)
    normed = (x - fx._mean) / fx._std
    tokens = backbone.pre_norm(backbone.embed(normed))
    for block in list(backbone.blocks())[:2]:
        tokens = block(tokens)
    torch.testing.assert_close(fx.patches(x), tokens[:, 1:].reshape(1, 8, 8, -1))
    with pytest.raises(ValueError, match="outside"):
        FeatureExtractor(backbone, layer=4)


def test_other_sizes_interpolate_positions(backbone):
    fx = FeatureExtractor(backbone)
    assert fx.patches(torch.rand(1, 3, 48, 64)).shape == (1, 12, 16, 128)
    grid_pos = backbone.visual.positional_embedding[1:]
    assert resize_grid_positions(grid_pos, (8, 8), (8, 8)) is grid_pos
    # a smooth embedding survives a round trip through a larger grid
    smooth = torch.linspace(0, 1, 8).repeat(8, 1).reshape(64, 1)
    back = resize_grid_positions(resize_grid_positions(smooth, (8, 8), (16, 16)), (16, 16), (8, 8))
    assert (back - smooth).abs().max() < 0.05
    assert embed_any_size(backbone, torch.rand(1, 3, 40, 36)).shape == (1, 1 + 10 * 9, 128)


def test_timm_backbone_any_size():
    timm = pytest.importorskip("timm")
    from lore_bench.backbones.timm_backbone import TimmVitBackbone

    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=32, patch_size=8, depth=2)
    bb = TimmVitBackbone("tiny", vit.eval()).freeze()
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(embed_any_size(bb, x), bb.embed(x))
    fx = FeatureExtractor(bb)
    assert fx.patches(torch.rand(2, 3, 48, 40)).shape == (2, 6, 5, 192)


def test_white_box_prompts_are_removed(backbone):
    x = torch.rand(2, 3, 32, 32)
    box = ConstantPrompts(backbone.info.num_layers, scale=5.0)
    plain = FeatureExtractor(backbone).tokens(x)
    prompted = FeatureExtractor(backbone, white_box=box).tokens(x)
    assert box.calls == 1
    assert prompted[1].shape == plain[1].shape == (2, 8, 8, 128)
    assert not torch.allclose(prompted[1], plain[1])  # prompts took part in attention
    assert FeatureExtractor(backbone, white_box=box, layer=0).patches(x).shape == (2, 8, 8, 128)
    with pytest.raises(TypeError, match="prompts_for"):
        FeatureExtractor(backbone, white_box=object())


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return fixtures.make_all(tmp_path_factory.mktemp("frozen_data"))


def spec_for(task, dataset, root, **cfg):
    return TrialSpec(method="frozen", dataset=dataset, backbone={"name": "micro_clip_random"}, shots=0, seed=1,
                     protocol="frozen_features", task=task, protocol_config=cfg, data_root=str(root))


@pytest.mark.parametrize(
    "task,dataset,cfg,splits",
    [
        ("retrieval", "roxford5k", {}, ["roxford5k/walmer"]),
        ("retrieval", "retrieval", {"presets": ["walmer", "dino"], "imsize": 48},
         ["roxford5k/walmer", "roxford5k/dino", "rparis6k/walmer", "rparis6k/dino"]),
        ("correspondence", "spair71k", {"pairs_per_category": 3}, ["spair71k/walmer"]),
        ("video_segmentation", "davis2017", {"short_side": 64, "multiple": 16}, ["davis2017/dino"]),
        ("video_segmentation", "davis2017", {"preset": "walmer"}, ["davis2017/walmer"]),
    ],
)
def test_run_frozen_trial_end_to_end(backbone, data_root, task, dataset, cfg, splits):
    rows = run_frozen_trial(spec_for(task, dataset, data_root, **cfg), backbone, "cpu")
    assert [r["eval_split"] for r in rows] == splits
    for row in rows:
        assert set(row) == {"eval_split", "metrics_json", "num_eval", "eval_seconds", "top1"}
        assert row["top1"] is None and row["eval_seconds"] > 0 and row["num_eval"] > 0
        metrics = json.loads(row["metrics_json"])  # strict JSON: NaN would not parse in DuckDB
        assert "NaN" not in row["metrics_json"]
        assert set(metrics["table4"]) == set(TABLE4_METRICS[task])
        assert all(isinstance(v, float) for v in metrics["table4"].values())
        assert metrics["task"] == task and metrics["white_box"] is False


def test_run_frozen_trial_with_white_box(backbone, data_root):
    box = ConstantPrompts(backbone.info.num_layers)
    rows = run_frozen_trial(spec_for("correspondence", "spair71k", data_root, pairs_per_category=1), backbone, "cpu", box)
    assert json.loads(rows[0]["metrics_json"])["white_box"] is True and box.calls > 0


def test_bad_task_and_dataset(backbone, data_root):
    with pytest.raises(ValueError, match="not a frozen-feature task"):
        run_frozen_trial(spec_for("classification", "x", data_root), backbone, "cpu")
    with pytest.raises(ValueError, match="unknown dataset"):
        run_frozen_trial(spec_for("retrieval", "x", data_root, datasets=["spair71k"]), backbone, "cpu")


def test_doctor_reports(data_root, tmp_path):
    reports = frozen_doctor_reports(data_root)
    assert [r.name for r in reports] == ["roxford5k", "rparis6k", "spair71k", "davis2017"]
    assert {r.status for r in reports} == {"found"}
    assert all("differ" in r.detail for r in reports)  # fixtures are not the published sizes
    missing = frozen_doctor_reports(tmp_path)
    assert {r.status for r in missing} == {"missing"}
    assert all("expected layout" in r.detail for r in missing)
    (tmp_path / "roxford5k").mkdir()
    (tmp_path / "roxford5k" / "gnd_roxford5k.pkl").write_bytes(b"not a pickle")
    assert frozen_doctor_reports(tmp_path)[0].status == "partial"
