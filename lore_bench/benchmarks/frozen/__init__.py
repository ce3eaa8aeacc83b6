"""The LORE paper's frozen-feature tasks: retrieval (ROxford5k, RParis6k),
correspondence (SPair-71k) and video object segmentation (DAVIS 2017).

The engine calls :func:`run_frozen_trial` for a trial whose ``spec.task`` is one of
:data:`TASK_DATASETS`; ``lore-bench data doctor`` lists :func:`frozen_doctor_reports`.

``spec.protocol_config`` keys (all optional):
- ``datasets``: which of the task's datasets (default: ``spec.dataset`` when it is
  one of them, else all of the task's);
- ``preset`` or ``presets``: retrieval ``walmer`` (default) | ``dino``;
  video_segmentation ``dino`` (default) | ``walmer``; correspondence ``walmer``;
- feature choice: ``layer`` (0-based block, -1 = last), ``final_norm`` (true),
  ``normalize`` (``backbone`` | ``dino`` | ``imagenet`` | ``clip`` | ``half`` | [mean, std]);
- the task's own options (see docs/frozen_tasks.md), e.g. ``imsize``, ``multiscale``,
  ``pairs_per_category``, ``mutual_nn``, ``short_side``, ``multiple``, ``topk``,
  ``temperature``, ``n_last_frames``, ``size_mask_neighborhood``, ``output_dir``.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from ..base import DoctorReport, default_data_root
from . import correspondence, retrieval, video_segmentation
from .features import FeatureExtractor, PromptSource, extractor_from_config  # noqa: F401

TASK_MODULES = {"retrieval": retrieval, "correspondence": correspondence, "video_segmentation": video_segmentation}
TASK_DATASETS = {
    "retrieval": retrieval.DATASET_NAMES,
    "correspondence": (correspondence.DATASET_NAME,),
    "video_segmentation": (video_segmentation.DATASET_NAME,),
}
#: dataset suite name -> task
FROZEN_DATASETS = {ds: task for task, names in TASK_DATASETS.items() for ds in names}
DEFAULT_PRESET = {"retrieval": "walmer", "correspondence": "walmer", "video_segmentation": "dino"}
#: The metrics_json keys of the LORE paper's Table 4 (mAP in [0, 1]; PCK and J&F in %).
TABLE4_METRICS = {
    "retrieval": ("mAP_medium", "mAP_hard"),
    "correspondence": ("pck@0.1",),
    "video_segmentation": ("J&F_mean",),
}


def run_frozen_trial(spec, backbone, device, white_box: PromptSource | None = None) -> list[dict]:
    """Evaluate frozen features of ``backbone`` (prompted by ``white_box`` when given)
    on the task's datasets; one result-row fragment per (dataset, preset)."""
    if spec.task not in TASK_MODULES:
        raise ValueError(f"task '{spec.task}' is not a frozen-feature task; known: {', '.join(TASK_MODULES)}")
    module, cfg = TASK_MODULES[spec.task], dict(spec.protocol_config or {})
    root = Path(spec.data_root or cfg.get("data_root") or default_data_root()).expanduser()
    names = TASK_DATASETS[spec.task]
    datasets = cfg.get("datasets") or ([spec.dataset] if spec.dataset in names else list(names))
    unknown = [d for d in datasets if d not in names]
    if unknown:
        raise ValueError(f"{spec.task}: unknown dataset(s) {unknown}; known: {', '.join(names)}")
    presets = cfg.get("presets") or [cfg.get("preset", DEFAULT_PRESET[spec.task])]
    backbone.to(device)
    rows = []
    for dataset in datasets:
        for preset in presets:
            run_cfg = {**cfg, "preset": preset}
            extractor = extractor_from_config(backbone, run_cfg, device, white_box)
            start = time.perf_counter()
            metrics, num_eval = module.evaluate(extractor, root, dataset, run_cfg)
            seconds = time.perf_counter() - start
            metrics.update(
                task=spec.task, dataset=dataset, preset=preset, white_box=white_box is not None,
                features={"layer": extractor.depth - 1, "final_norm": extractor.final_norm,
                          "normalize": run_cfg.get("normalize", "backbone")},
                table4={k: metrics.get(k) for k in TABLE4_METRICS[spec.task]},
            )
            rows.append({
                "eval_split": f"{dataset}/{preset}",
                "metrics_json": json.dumps(_jsonable(metrics), sort_keys=True),
                "num_eval": int(num_eval),
                "eval_seconds": seconds,
                "top1": None,
            })
    return rows


def frozen_doctor_reports(root: str | Path | None = None) -> list[DoctorReport]:
    """found / missing / partial, with counts, for ROxford5k, RParis6k, SPair-71k, DAVIS 2017."""
    root = Path(root).expanduser() if root else default_data_root()
    checks = [(name, retrieval.doctor) for name in retrieval.DATASET_NAMES]
    checks += [(correspondence.DATASET_NAME, correspondence.doctor), (video_segmentation.DATASET_NAME, video_segmentation.doctor)]
    reports = []
    for name, check in checks:
        try:
            reports.append(check(root, name))
        except Exception as err:  # a broken file must not stop the report on the others
            reports.append(DoctorReport(name, "partial", detail=f"{type(err).__name__}: {err}"))
    return reports


def _jsonable(obj):
    """Plain JSON for the store: numpy scalars unwrapped, NaN -> null (DuckDB and
    Polars reject the bare NaN token Python's json writes)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(obj) else float(obj)
    return obj
