"""LORE's recipes: the authors' 68 released configs (``lore_authors_recipes.csv``,
one row per JSON file of the KGPT release), the values the paper states, and
lore-bench's corrected recipe (docs/lore.md, "Recipes").

A trial is matched to a released config by backbone (the ViT-B/32 table for an
open_clip ViT-B-32, the ViT-B/16 table for every other backbone), protocol,
dataset and shots (8 up to 8 shots, 16 above). Fallbacks where nothing was
released: an easy-to-hard 16-per-stage config missing for a dataset (Cars, DTD,
Flowers102, UCF101) takes that dataset's 8-per-stage config; ViT-B/32
easy-to-hard (never released) takes the ViT-B/16 easy-to-hard budget with the
ViT-B/32 few-shot prompt counts; a dataset outside the paper takes
:data:`GENERIC`.
"""
from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import check_recipe
from .dassl import dataset_key

TABLE = Path(__file__).with_name("lore_authors_recipes.csv")
B16, B32 = "clip_vit_b16_openai", "clip_vit_b32_openai"
#: methods/eth_dta.py of the release: the hard stage always runs 5 epochs.
HARD_STAGE_EPOCHS = 5


@dataclass(frozen=True)
class Release:
    """One released config (a row of the table); ``note`` says how it was chosen."""

    config_file: str
    backbone: str
    protocol: str
    dataset: str
    shots: int
    epochs: int
    lr: float
    hard_stage_lr: float | None
    min_lr: float
    weight_decay: float
    batch_size: int
    n_shared: int
    n_generated: int
    lam_pull: float
    lam_push: float
    gpus: int
    note: str = ""


#: A dataset the authors never ran: the paper's schedule, ViT-B/16 prompt counts and
#: the baselines' weight decay (LORE's 0.5-1.0 were tuned per dataset on 224 px
#: natural images and are no neutral choice elsewhere).
GENERIC = Release("(none: dataset outside the release)", B16, "few_shot", "", 0, 50, 0.003, 5e-4, 1e-4, 5e-4, 64,
                  8, 2, 0.1, 0.1, 1, note="generic")

#: What the paper's text states (section 4.1): SGD; lr 0.003 cosine-annealed to 1e-4
#: (few-shot and easy stage); hard stage 0.0005 to 1e-4; 50 epochs; lambda 0.1;
#: locality-aware prompt length 10; r = 32; KLA as Eq. 5-7.
PAPER_TRAINING = {"epochs": 50, "lr": 0.003, "min_lr": 1e-4}
PAPER_HARD_LR = 5e-4
PAPER_CONFIG = {"n_shared": 8, "n_generated": 2, "lam": 0.1, "reduction": 32, "kla_variant": "paper"}

#: Datasets whose class names the release keeps with underscores (KGPT
#: utils/class_names.py: 9 of CIFAR-100's names, 18 of RESISC45's, 24 of PatternNet's,
#: 74 of Stanford Dogs'); lore-bench's datasets clean them to spaces.
RAW_UNDERSCORE_KNOWLEDGE = frozenset({"cifar100", "resisc45", "patternnet", "stanford_dogs"})
#: The confusing labels were computed on the datasets' folder names (data_processing/
#: get_data_*.py, ``train.classes``); UCF101's folders are underscored as well (its
#: knowledge prompt replaces them, models/clip/prompt_learner.py PromptLearner_ucf).
RAW_UNDERSCORE_CONFUSING = RAW_UNDERSCORE_KNOWLEDGE | {"ucf101"}


def _float_or_none(text: str) -> float | None:
    return float(text) if text.strip() else None


@lru_cache(maxsize=1)
def releases() -> tuple[Release, ...]:
    """Every released config, read from the table shipped with the package."""
    with TABLE.open(newline="") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        out = []
        for r in rows:
            out.append(Release(
                config_file=r["config_file"], backbone=r["backbone"], protocol=r["protocol"], dataset=r["dataset"],
                shots=int(r["shots"]), epochs=int(r["epochs"]), lr=float(r["lr"]),
                hard_stage_lr=_float_or_none(r["hard_stage_lr"]), min_lr=float(r["min_lr"]),
                weight_decay=float(r["weight_decay"]), batch_size=int(r["batch_size"]), n_shared=int(r["n_shared"]),
                n_generated=int(r["n_generated"]), lam_pull=float(r["lam_pull"]), lam_push=float(r["lam_push"]),
                gpus=int(r["gpus"]), note=r["config_file"],
            ))
    return tuple(out)


def _index() -> dict[tuple[str, str, str, int], Release]:
    return {(r.backbone, r.protocol, r.dataset, r.shots): r for r in releases()}


def table_backbone(backbone: Any) -> str:
    """The released table a backbone (a name, a config dict or None) reads."""
    if backbone is None:
        return B16
    if isinstance(backbone, str):
        if backbone in (B16, B32):
            return backbone
        from ...backbones import NAMED_BACKBONES

        backbone = NAMED_BACKBONES.get(backbone, {})
    arch = str(backbone.get("arch", "")) if backbone.get("type", "open_clip") == "open_clip" else ""
    return B32 if arch.startswith("ViT-B-32") else B16


def find_release(dataset: str, shots: int, backbone: Any = None, protocol: str | None = None) -> Release:
    """The released config a trial follows (see the module docstring for the fallbacks)."""
    table = table_backbone(backbone)
    proto = "easy_to_hard" if protocol == "easy_to_hard" else "few_shot"
    key, want = dataset_key(dataset), (8 if shots <= 8 else 16)
    index = _index()
    if proto == "few_shot" or table == B16:
        found = index.get((table, proto, key, want))
        if found is None and proto == "easy_to_hard" and (table, proto, key, 8) in index:
            row = index[(table, proto, key, 8)]
            return dataclasses.replace(row, note=f"{row.config_file} (no {want}-per-stage config released)")
        return found if found is not None else GENERIC
    # ViT-B/32 easy-to-hard: never released.
    budget = find_release(dataset, shots, B16, "easy_to_hard")
    prompts = index.get((B32, "few_shot", key, want))
    if budget is GENERIC or prompts is None:
        return GENERIC
    return dataclasses.replace(budget, n_shared=prompts.n_shared, n_generated=prompts.n_generated,
                               note=f"{budget.config_file} budget, {prompts.config_file} prompts "
                                    "(no ViT-B/32 easy-to-hard config released)")


def _lam(row: Release) -> float:
    if row.lam_pull != row.lam_push:  # lore-bench has one weight for both terms
        raise ValueError(f"{row.config_file}: pull {row.lam_pull} != push {row.lam_push}; LORE's 'lam' is one value")
    return row.lam_pull


def lore_config(dataset: str, shots: int, recipe: str, backbone: Any = None, protocol: str | None = None) -> dict:
    """LORE's method-config defaults under ``recipe``."""
    check_recipe(recipe)
    row = find_release(dataset, shots, backbone, protocol)
    if recipe == "paper":
        return dict(PAPER_CONFIG)
    out: dict[str, Any] = {"n_shared": row.n_shared, "n_generated": row.n_generated, "lam": _lam(row),
                           "kla_variant": "code"}
    if recipe == "authors":
        out.update(knowledge_names="raw", confusing_names="raw", confusing_template="a photo of a {}",
                   white_box_fp32=True)
        if table_backbone(backbone) == B32:  # the ViT-B/16 zero-shot labels served the ViT-B/32 runs too
            out["confusing_backbone"] = B16
    return out


def lore_training(dataset: str, shots: int, recipe: str, backbone: Any = None, protocol: str | None = None) -> dict:
    """LORE's training defaults (few-shot, or the easy stage of easy-to-hard)."""
    check_recipe(recipe)
    row = find_release(dataset, shots, backbone, protocol)
    out: dict[str, Any] = {
        "epochs": row.epochs, "lr": row.lr, "min_lr": row.min_lr, "batch_size": row.batch_size,
        "weight_decay": row.weight_decay, "optimizer": "sgd", "momentum": 0.9, "warmup_epochs": 0,
        "schedule": "lore_cosine", "augment": True, "drop_last": False,
    }
    if recipe == "paper":
        out.update(PAPER_TRAINING)
    if recipe == "authors":
        out["precision"] = "fp16"  # CLIP in half precision (the White Box in fp32: white_box_fp32)
    return out


def lore_hard_stage(dataset: str, shots: int, recipe: str, backbone: Any = None) -> dict:
    """The hard stage of easy-to-hard: a fresh optimizer from the easy-stage weights,
    5 epochs, the released hard-stage lr cosine to min_lr, same weight decay and batch."""
    easy = lore_training(dataset, shots, recipe, backbone, "easy_to_hard")
    row = find_release(dataset, shots, backbone, "easy_to_hard")
    lr = PAPER_HARD_LR if recipe == "paper" or row.hard_stage_lr is None else row.hard_stage_lr
    return {**easy, "epochs": HARD_STAGE_EPOCHS, "lr": lr}


def raw_classnames(dataset: str, classnames: tuple[str, ...] | list[str], confusing: bool) -> list[str]:
    """The class names as the release spelled them (underscores where its lists and
    folders have them), from lore-bench's cleaned names."""
    raw = RAW_UNDERSCORE_CONFUSING if confusing else RAW_UNDERSCORE_KNOWLEDGE
    if dataset_key(dataset) in raw:
        return [c.replace(" ", "_") for c in classnames]
    return list(classnames)
