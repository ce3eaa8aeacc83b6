"""Domain generalization (CoCoOp / MaPLe Table 3): train on ImageNet (K = 16
shots of every class), score the same model on ImageNet-V2, -Sketch, -A and -R.

The cross-dataset trial with other targets, all of which hold the source's
classes (-A and -R: 200 of them, scored over those 200): every method applies,
closed-set heads included. ``targets`` must share the source's classes
(``benchmarks.class_maps``); other targets belong to ``cross_dataset``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...methods.base import ConfigError
from .base import register_protocol
from .cross_dataset import CrossDataset

IMAGENET_SHIFTS = ["imagenet_v2", "imagenet_sketch", "imagenet_a", "imagenet_r"]


@dataclass
class DomainGeneralizationConfig:
    #: Test sets with the source's classes under a shift of domain.
    targets: list = field(default_factory=lambda: list(IMAGENET_SHIFTS))
    eval_subset: int = field(default=0, metadata={"min": 0})


@register_protocol
class DomainGeneralization(CrossDataset):
    """Train on a source dataset; score it on shifted test sets with the same classes (CoCoOp Table 3)."""

    name = "domain_generalization"
    Config = DomainGeneralizationConfig

    @classmethod
    def expand(cls, suite):
        from ...benchmarks.class_maps import shares_classes

        for source in suite.datasets:
            for i, target in enumerate(cls.targets(suite)):
                if not shares_classes(source, target):
                    raise ConfigError(f"target '{target}' does not hold the classes of the source '{source}': "
                                      "domain generalization keeps the classes and shifts the domain; "
                                      "use protocol cross_dataset for other classes", field=f"targets.{i}")
        return super().expand(suite)
