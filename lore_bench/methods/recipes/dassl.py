"""Released training recipes of the CLIP baselines built on Dassl (CoOp, CoCoOp,
MaPLe, VPT on CLIP, ProGrad, CLIP-Adapter), as facts with their sources.

Solver (Dassl.pytorch dassl/config/defaults.py and every trainer config used):
SGD, momentum 0.9, weight decay 5e-4; ``LR_SCHEDULER: cosine`` with
``WARMUP_EPOCH: 1, WARMUP_TYPE: constant, WARMUP_CONS_LR: 1e-5`` and
``WARMUP_RECOUNT: True``, stepped once per epoch (schedule ``dassl_cosine`` in
lore_bench/suite/schedules.py); random-resized-crop + flip; the training loader
drops a last partial batch when the split holds at least one batch
(dassl/data/data_manager.py). Precision: ``PREC`` of each trainer config.
"""
from __future__ import annotations

from typing import Any

from . import check_recipe

#: Dassl's solver and data settings shared by every baseline config.
DASSL_SOLVER: dict[str, Any] = {
    "optimizer": "sgd",
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "warmup_epochs": 1,
    "warmup_lr": 1e-5,
    "min_lr": 0.0,
    "schedule": "dassl_cosine",
    "augment": True,
    "drop_last": True,
}

#: Precision each release trains in: ``fp16_pure`` where CLIP and the learned
#: vectors are half precision with no autocast and no loss scaling (the engine's
#: pure-fp16 mode, CUDA only; fp32 on a CPU); ``fp32`` where the trainer casts
#: CLIP to float (VPT: trainers/vpt.py load_clip_to_cpu returns ``model.float()``;
#: CLIP-Adapter: ``clip_model.float()`` in build_model).
RELEASED_PRECISION: dict[str, str] = {
    "coop": "fp16_pure",  # KaiyangZhou/CoOp train.py: TRAINER.COOP.PREC = "fp16"
    "cocoop": "fp16_pure",  # CoOp configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml: PREC "fp16"
    "maple": "fp16_pure",  # multimodal-prompt-learning configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml
    "prograd": "fp16_pure",  # Prompt-align ProGrad.public/train.py: TRAINER.COOP.PREC = "fp16"
    "vpt": "fp32",
    "clip_adapter": "fp32",
}


def dataset_key(dataset: str) -> str:
    return dataset.lower().replace("-", "_").replace(" ", "_")


def is_imagenet(dataset: str) -> bool:
    return dataset_key(dataset) in {"imagenet", "imagenet1k", "imagenet_1k", "ilsvrc2012"}


def coop_epochs(dataset: str, shots: int) -> int:
    """CoOp's few-shot schedule (KaiyangZhou/CoOp COOP.md): the ``*_ep50`` config at
    1 shot, ``*_ep100`` at 2 and 4 shots, the 200-epoch config at 8 and 16 shots;
    ImageNet uses ``*_ep50`` for every shot count."""
    if is_imagenet(dataset) or shots <= 1:
        return 50
    return 100 if shots <= 4 else 200


def dassl_training(method: str, recipe: str, epochs: int, lr: float, batch_size: int) -> dict[str, Any]:
    """A baseline's training defaults under ``recipe``: its released budget on
    Dassl's solver; ``authors`` also trains at the release's precision, the other
    recipes at the engine's ``auto`` (bf16 where the GPU has it)."""
    check_recipe(recipe)
    out = {"epochs": epochs, "lr": lr, "batch_size": batch_size, **DASSL_SOLVER}
    if recipe == "authors":
        out["precision"] = RELEASED_PRECISION[method]
    return out


#: ProGrad's hand-crafted templates (BeierZhu/Prompt-align ProGrad.public/trainers/
#: prograd.py CUSTOM_TEMPLATES), keyed by lore-bench dataset names: they initialise
#: the context and define the zero-shot teacher. Classes always come last.
PROGRAD_TEMPLATES: dict[str, str] = {
    "oxford_pets": "a type of pet, a photo of a {}.",
    "flowers102": "a type of flower, a photo of a {}.",
    "fgvc_aircraft": "a type of aircraft, a photo of a {}.",
    "dtd": "a texture of {}.",
    "eurosat": "a centered satellite photo of {}.",
    "stanford_cars": "a photo of a {}.",
    "food101": "a type of food, a photo of {}.",
    "sun397": "a photo of a {}.",
    "caltech101": "a photo of a {}.",
    "ucf101": "a photo of a person doing {}.",
    "imagenet": "a photo of a {}.",
}
#: Names other code bases use for the same datasets.
PROGRAD_ALIASES = {"oxford_flowers": "flowers102", "describabletextures": "dtd", "describable_textures": "dtd",
                   "fgvcaircraft": "fgvc_aircraft"}


def prograd_template(dataset: str) -> str | None:
    """ProGrad's template for ``dataset``; None where ProGrad released none."""
    key = dataset_key(dataset)
    return PROGRAD_TEMPLATES.get(PROGRAD_ALIASES.get(key, key))


def prograd_lambda(dataset: str, shots: int) -> float:
    """ProGrad's lambda: 0.8 for the 8- and 16-shot runs on Flowers102, DTD and
    EuroSAT, 1.0 otherwise (Prompt-align ProGrad.public/README.md; scripts/prograd.sh
    sets LAMBDA=1.0)."""
    key = dataset_key(dataset)
    key = PROGRAD_ALIASES.get(key, key)
    return 0.8 if shots >= 8 and key in {"flowers102", "dtd", "eurosat"} else 1.0


#: The template MaPLe's VPT baseline classifies with on every dataset
#: (multimodal-prompt-learning trainers/vpt.py FixedEmbeddings: "a photo of a" + name + ".").
VPT_CLIP_TEMPLATE = "a photo of a {}."
