"""The LORE paper's published figures (ACM MM 2024), shipped as CSV data, and their loaders.

- ``top1.csv``: top-1 (%) of Tables 1, 2, 3 and 5, one row per (table, backbone,
  protocol, stage, shots, method, dataset); the paper's ``average_N`` columns
  are rows with dataset ``average_N``.
- ``table4.csv``: Table 4, frozen features of a backbone, ``baseline`` -> with
  LORE's ``white box``; mAP in [0, 1], PCK@0.1 and J&F in %, keyed by
  (dataset, metric) as the frozen-feature tasks record them.
- ``generalization.csv``: base-to-novel figures of the MaPLe paper (CVPR 2023)
  as its repository's README lists them (muzairkhattak/multimodal-prompt-learning,
  commit 69bce21: "MaPLe in comparison with existing methods", the average of 11
  datasets over 3 seeds, CLIP ViT-B/16; the Model Zoo row "Deep Vision
  Prompting" is lore-bench's ``vpt`` on CLIP, the same config file). Metrics
  ``base``, ``novel``, ``hm`` (%). The README lists no cross-dataset or
  domain-generalization figures, so none are shipped.
Backbones are lore-bench backbone names.
"""
from __future__ import annotations

import io
from functools import lru_cache
from importlib import resources

import pandas as pd

SOURCE = "LORE (ACM MM 2024, doi:10.1145/3664647.3680983)"


def _read(name: str, **kwargs) -> pd.DataFrame:
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    return pd.read_csv(io.StringIO(text), **kwargs)


def load_published() -> pd.DataFrame:
    """The paper's top-1 figures; few-shot rows (no stage in the paper) get stage "main"."""
    df = _read("top1.csv", dtype={"stage": "object"})
    df["stage"] = df["stage"].fillna("main")
    return df[df["metric"] == "top1"].reset_index(drop=True)


GENERALIZATION_SOURCE = ("MaPLe (CVPR 2023), as listed in its repository's README "
                         "(github.com/muzairkhattak/multimodal-prompt-learning)")


def load_generalization() -> pd.DataFrame:
    """Published base / novel / HM figures (``generalization.csv``)."""
    return _read("generalization.csv")


@lru_cache(maxsize=1)
def _table4() -> dict[tuple[str, str, str, str], float]:
    df = _read("table4.csv")
    return {(r.backbone, r.variant, r.dataset, r.metric): float(r.value) for r in df.itertuples()}


def published_value(backbone: str, variant: str, column: str) -> float | None:
    """Table 4's figure for ``variant`` ("baseline" | "white box"); ``column`` is
    '<dataset>/<preset> <metric>' as in the measured Table 4."""
    dataset = column.split("/", 1)[0]
    metric = column.rsplit(" ", 1)[-1]
    return _table4().get((backbone, variant, dataset, metric))
