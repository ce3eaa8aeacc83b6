"""BitFit (Ben Zaken et al., ACL 2022) on the image tower: every bias term of the
image tower is trained (attention q/k/v and output, MLP, LayerNorm shifts), all
weights stay frozen; the classifier is the frozen text embeddings of the
dataset's template with CLIP's logit scale (zero-shot CLIP's head).

The paper tunes BERT on GLUE; the training recipe here is a choice, documented
in docs/methods.md: BitFit's released optimiser (AdamW, lr 1e-3, no weight
decay; benzakenelad/BitFit run_glue.py, GLUEvaluator.py) over CLIP-LoRA's
few-shot budget (batch 32, 500 x shots iterations, cosine), so the two methods
that train inside the tower see the same number of updates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from ..backbones.base import Backbone
from ._prompting import replace_buffer, cosine_logits, template_classifier
from .base import Method, TaskInfo
from .clip_lora import clip_lora_epochs
from .registry import register_method


@dataclass
class BitFitConfig:
    # The release's "all" trains every parameter named *bias*, LayerNorm shifts
    # included (GLUEvaluator.py BIAS_TERMS_DICT); False keeps LayerNorm frozen.
    layernorm: bool = True


@register_method
class BitFit(Method):
    name = "bitfit"
    Config = BitFitConfig
    trains_backbone = True
    scores_unseen_classes = True  # biases in the image tower; the classifier is text embeddings

    def __init__(self, cfg: BitFitConfig, backbone: Backbone, task: TaskInfo):
        super().__init__(cfg, backbone, task)
        classifier = template_classifier(backbone.text, task.template, task.classnames)
        self.register_buffer("classifier", classifier, persistent=False)
        self.bias_names = image_tower_biases(backbone, cfg.layernorm)
        if not self.bias_names:
            raise ValueError(f"bitfit: backbone '{backbone.name}' has no bias terms in its image tower")
        params = dict(backbone.named_parameters())
        for name in self.bias_names:
            params[name].requires_grad_(True)

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """The tuned protocol's space: the engine's lr / weight decay / epochs and
        ``layernorm`` (with or without the LayerNorm shifts (BitFit, Ben Zaken et al. 2022, tunes every bias))."""
        from .search_space import Choice

        return {**super().search_space(), "layernorm": Choice((True, False))}

    @classmethod
    def default_training(cls, dataset: str, shots: int) -> dict[str, Any]:
        return {"epochs": clip_lora_epochs(dataset, shots), "lr": 1e-3, "batch_size": 32, "optimizer": "adamw",
                "weight_decay": 0.0, "warmup_epochs": 0, "min_lr": 1e-6, "augment": True}

    def retarget(self, task: TaskInfo) -> None:
        self._set_task(task)
        replace_buffer(self, "classifier", template_classifier(self.backbone.text, task.template, task.classnames))

    def forward(self, images: Tensor) -> Tensor:
        return cosine_logits(self.backbone.encode_image(images), self.classifier, self.backbone.logit_scale)


def image_tower_biases(backbone: Backbone, layernorm: bool = True) -> list[str]:
    """Names (in ``backbone.named_parameters()``) of the image tower's bias terms:
    every parameter outside the text tower whose own name ends in ``bias``
    (``bias``, ``in_proj_bias``). ``layernorm=False`` leaves LayerNorm shifts out."""
    norms = {f"{m}.bias" for m, mod in backbone.named_modules() if isinstance(mod, nn.LayerNorm)}
    return [name for name, _ in backbone.named_parameters()
            if not name.startswith("text.") and name.rsplit(".", 1)[-1].endswith("bias")
            and (layernorm or name not in norms)]
