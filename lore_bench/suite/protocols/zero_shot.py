"""Zero-shot evaluation: a method that learns nothing from images (zero-shot
CLIP) runs once per dataset — shots 0, no training — and is scored like a
few-shot trial. The expansion assigns it; suites do not name it."""
from __future__ import annotations

from .base import register_protocol
from .few_shot import FewShot, FewShotConfig


@register_protocol
class ZeroShot(FewShot):
    """No training images; evaluation as in few_shot."""

    name = "zero_shot"
    Config = FewShotConfig  # eval_subset only, shared with the suite's few-shot trials
    selectable = False
