"""Training configuration shared by all methods (the engine's knobs).

Defaults follow the baselines' common recipe (docs/paper/baselines.md): SGD momentum
0.9, weight decay 5e-4, cosine schedule with one warm-up epoch at a constant
1e-5. Methods override the budget with their published values
(``Method.default_training``); suites override both.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 10
    lr: float = 0.002
    batch_size: int = 32
    optimizer: str = "sgd"  # sgd | adamw
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 1
    warmup_lr: float = 1e-5  # constant lr during warm-up (CoOp's recipe)
    min_lr: float = 0.0  # cosine floor
    augment: bool = True  # RandomResizedCrop + flip; off = test transform (enables the feature cache)
    precision: str = "auto"  # auto (bf16/fp16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16
    eval_batch_size: int = 256

    OPTIMIZERS = ("sgd", "adamw")
    PRECISIONS = ("auto", "fp32", "bf16", "fp16")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def to_dict(self) -> dict:
        return asdict(self)
