"""The LORE paper's Table 4 (ACM MM 2024): frozen features of a backbone, baseline
-> with LORE's White Box. Figures as published (docs/paper/frozen_tasks.md);
mAP in [0, 1], PCK@0.1 and J&F in %. Keyed by lore-bench backbone name, then by
(dataset, metric) as the frozen-feature tasks record them."""
from __future__ import annotations

_COLUMNS = [("roxford5k", "mAP_medium"), ("roxford5k", "mAP_hard"), ("rparis6k", "mAP_medium"),
            ("rparis6k", "mAP_hard"), ("spair71k", "pck@0.1"), ("davis2017", "J&F_mean")]
_ROWS = {
    "clip_vit_b16_openai": ([0.397, 0.107, 0.708, 0.482, 18.25, 54.38], [0.418, 0.171, 0.750, 0.552, 20.71, 55.62]),
    "vit_b16_in21k": ([0.302, 0.094, 0.603, 0.358, 16.61, 58.12], [0.449, 0.172, 0.720, 0.523, 18.07, 59.46]),
}

#: backbone -> {"baseline" | "white box": {(dataset, metric): value}}
PUBLISHED_TABLE4 = {
    backbone: {"baseline": dict(zip(_COLUMNS, base)), "white box": dict(zip(_COLUMNS, white_box))}
    for backbone, (base, white_box) in _ROWS.items()
}


def published_value(backbone: str, variant: str, column: str) -> float | None:
    """``column`` is '<dataset>/<preset> <metric>' as in the measured Table 4."""
    dataset = column.split("/", 1)[0]
    metric = column.rsplit(" ", 1)[-1]
    return PUBLISHED_TABLE4.get(backbone, {}).get(variant, {}).get((dataset, metric))
