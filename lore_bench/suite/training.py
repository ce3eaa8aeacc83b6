"""Training configuration shared by all methods (the engine's knobs).

Defaults: SGD momentum 0.9, weight decay 5e-4, lore-bench's cosine schedule
with one warm-up epoch at a constant 1e-5. Methods override them with their
recipe's values (``Method.default_training``, docs/methods.md); suites override
both. The learning rate of each epoch comes from ``schedules.py``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .schedules import SCHEDULES as _SCHEDULES


#: Training keys that never change a result: not part of a trial_id.
TRAINING_NOT_IN_ID = ("checkpoint_every_s",)
#: Keys added after trial ids were published, with the behaviour before them:
#: they enter a trial_id only when set to something else.
TRAINING_ID_LEGACY = {"data_path": "cpu"}


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
    schedule: str = "cosine"  # cosine | dassl_cosine | lore_cosine (suite/schedules.py)
    # Drop a last partial training batch when the split holds at least one full
    # batch (Dassl's loader; the baselines' authors recipes set it).
    drop_last: bool = False
    augment: bool = True  # RandomResizedCrop + flip; off = test transform (enables the feature cache)
    # auto (bf16/fp16 autocast on GPU, fp32 on CPU) | fp32 | bf16 | fp16 (autocast, loss
    # scaling) | fp16_pure (weights and learned parameters in fp16, no autocast, no loss
    # scaling: the CoOp-family releases; CUDA only, fp32 elsewhere; engine/context.py)
    precision: str = "auto"
    eval_batch_size: int = 256
    # Where augmented training views are made: "device" (uint8 images moved to
    # the trial's device once, crop/flip/normalise batched there: engine/device_data.py)
    # or "cpu" (torchvision per image on the trial's thread, the path before it).
    data_path: str = "device"
    # Write a resume checkpoint at most this often (seconds), plus after the last
    # epoch of a stage another trial depends on; 0: after every epoch.
    checkpoint_every_s: float = 60.0

    OPTIMIZERS = ("sgd", "adamw")
    DATA_PATHS = ("device", "cpu")
    PRECISIONS = ("auto", "fp32", "bf16", "fp16", "fp16_pure")
    SCHEDULES = _SCHEDULES

    def __post_init__(self):
        if self.data_path not in self.DATA_PATHS:
            raise ValueError(f"training.data_path '{self.data_path}' is not one of: {', '.join(self.DATA_PATHS)}")
        if self.schedule not in self.SCHEDULES:
            raise ValueError(f"training.schedule '{self.schedule}' is not one of: {', '.join(self.SCHEDULES)}")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def to_dict(self) -> dict:
        return asdict(self)
