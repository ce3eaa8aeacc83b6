"""Zero-shot CLIP: the dataset's hand-crafted template, nothing learned."""
from __future__ import annotations

from typing import Any

from torch import Tensor

from ._prompting import replace_buffer, cosine_logits, template_classifier
from .base import Method, TaskInfo
from .recipes import DEFAULT_RECIPE, check_recipe
from .registry import register_method
from ..backbones.base import Backbone


@register_method
class ZeroShotCLIP(Method):
    name = "zeroshot_clip"
    caches_image_features = True
    uses_training_data = False  # the suite runs it once per dataset
    scores_unseen_classes = True

    def __init__(self, cfg: Any, backbone: Backbone, task: TaskInfo):
        super().__init__(cfg, backbone, task)
        # Derived from frozen weights: not saved with the (empty) trainable state.
        classifier = template_classifier(backbone.text, task.template, task.classnames)
        self.register_buffer("classifier", classifier, persistent=False)

    @classmethod
    def default_training(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, **context) -> dict[str, Any]:
        check_recipe(recipe)  # one recipe: nothing is trained by SGD
        return {"epochs": 0}

    def retarget(self, task: TaskInfo) -> None:
        self._set_task(task)
        replace_buffer(self, "classifier", template_classifier(self.backbone.text, task.template, task.classnames))

    def logits_from_features(self, features: Tensor) -> Tensor:
        return cosine_logits(features, self.classifier, self.backbone.logit_scale)
