"""The Method plugin interface (docs/architecture.md). A method holds only what is specific
to it; the engine owns optimisation, precision, data, evaluation, checkpoints.

A third-party method subclasses :class:`Method`, sets ``name`` and ``Config``
(a dataclass; unknown keys are rejected) and is found through the entry-point
group ``lore_bench.methods`` or a ``plugin: "pkg.module:Class"`` key in a suite.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Iterator

import torch
from torch import Tensor, nn

from ..backbones.base import Backbone
from .recipes import DEFAULT_RECIPE, check_recipe


@dataclass(frozen=True)
class TaskInfo:
    """What a method learns about the task it is adapted to."""

    dataset: str
    classnames: tuple[str, ...]
    template: str = "a photo of a {}."  # hand-crafted CoOp-style template
    lore_template: str = "This is a photo of a {}."
    shots: int = 0

    @property
    def num_classes(self) -> int:
        return len(self.classnames)

    def prompts(self, template: str | None = None) -> list[str]:
        t = template or self.template
        return [t.format(c) for c in self.classnames]


@dataclass
class EmptyConfig:
    pass


class ConfigError(ValueError):
    """A method config key or value is wrong; ``field`` names it."""

    def __init__(self, message: str, field: str | None = None, suggestion: str | None = None):
        super().__init__(message)
        self.field, self.suggestion = field, suggestion


def build_config(config_cls: type, values: dict[str, Any], method: str) -> Any:
    """Dataclass from a dict, rejecting unknown keys with a "did you mean"."""
    from ..plugins import nearest

    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    for key in values:
        if key not in fields:
            near = nearest(key, fields)
            hint = f"; did you mean '{near}'?" if near else ""
            raise ConfigError(
                f"method '{method}' has no option '{key}'{hint} Options: {', '.join(fields) or '(none)'}",
                field=key,
                suggestion=near,
            )
    return config_cls(**values)


class Method(nn.Module):
    """Base class of every PET method (built-in or plugin)."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = EmptyConfig
    #: True when the image tower is frozen and untouched: the engine may then
    #: feed cached features to :meth:`logits_from_features` instead of images.
    caches_image_features: ClassVar[bool] = False
    #: True when the method needs a CLIP text tower.
    requires_text: ClassVar[bool] = True
    #: True when :meth:`training_step` fills ``.grad`` itself (ProGrad).
    manual_backward: ClassVar[bool] = False
    #: False for methods that learn nothing from training images (zero-shot):
    #: the suite then runs them once per dataset (shots 0, first seed).
    uses_training_data: ClassVar[bool] = True
    #: True for a method that changes the backbone's parameters or modules (LoRA
    #: wrapping attention projections, BitFit unfreezing biases, LayerNorm tuning):
    #: the engine then builds it on a private deep copy of the backbone (nothing
    #: leaks into later trials), never feeds it cached image features, and its
    #: ``__init__`` may set ``requires_grad=True`` on backbone parameters or
    #: replace backbone submodules. Those parameters are trained, counted and saved.
    trains_backbone: ClassVar[bool] = False
    #: True when the classifier is built from class *names* through the text tower
    #: (prompt learners, adapters over text embeddings, zero-shot): a trained method
    #: can then be re-pointed at classes it never saw (:meth:`retarget`) for the
    #: base-to-novel and cross-dataset protocols. False for a closed set of learned
    #: class weights (a linear head, Tip-Adapter's cache of labelled keys): those
    #: protocols skip the method with a note, and the report says "not applicable".
    scores_unseen_classes: ClassVar[bool] = False
    #: True for a method that can train in precision ``fp16_pure`` (backbone and its
    #: own parameters cast to fp16, no autocast): the CoOp-family releases do.
    runs_pure_fp16: ClassVar[bool] = False
    #: Peak GPU memory (GB) of one training trial on ViT-B/16 at the method's recipe batch size, if known;
    #: lets the driver pack several trials on one GPU (suite/packing.py) before any trial was measured.
    train_memory_gb: ClassVar[float | None] = None

    def __init__(self, cfg: Any, backbone: Backbone, task: TaskInfo):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.task = task
        # What the backbone held before this method adapted it: state added
        # later (LoRA factors and their buffers) is the method's own, and modules
        # added later follow the method's train/eval mode.
        self._backbone_keys = frozenset(backbone.state_dict()) if self.trains_backbone else frozenset()
        self._backbone_modules = ({id(m) for m in backbone.modules()} if self.trains_backbone else set())
        if self.requires_text:
            backbone.require_text(self.name)

    # -- defaults that depend on the trial (published configurations) ---------
    # ``recipe`` names where the values come from (methods/recipes: authors |
    # paper | lore_bench); ``backbone`` (a name or config dict) and ``protocol``
    # (few_shot | easy_to_hard) matter to methods whose releases differ by them.
    # Old overrides taking only (dataset, shots) keep working through
    # recipes.published_defaults.
    @classmethod
    def default_config(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, *,
                       backbone: Any = None, protocol: str | None = None) -> dict[str, Any]:
        """Method-config defaults for this trial under ``recipe``."""
        check_recipe(recipe)
        return {}

    @classmethod
    def default_training(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, *,
                         backbone: Any = None, protocol: str | None = None) -> dict[str, Any]:
        """Training defaults (epochs, lr, batch_size, schedule, ...) for this trial under ``recipe``."""
        check_recipe(recipe)
        return {}

    # -- the tuned protocol's search space (methods/search_space.py, docs/tuned.md) --
    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """Key (a Config or training field) -> distribution for the tuned protocol.
        Default: learning rate and weight decay log-uniform within 10x of the
        recipe's, epochs half or all of the protocol's per-configuration budget."""
        from .search_space import Around, EpochShare

        return {"lr": Around(10.0), "weight_decay": Around(10.0), "epochs": EpochShare((0.5, 1.0))}

    # -- the model -------------------------------------------------------------
    def forward(self, images: Tensor) -> Tensor:
        """Logits [B, C]."""
        if self.caches_image_features:
            return self.logits_from_features(self.backbone.encode_image(images))
        raise NotImplementedError

    def logits_from_features(self, features: Tensor) -> Tensor:
        raise NotImplementedError(f"{self.name} does not work from cached image features")

    def prepare(self, context: "PrepareContext") -> None:
        """Called once before training: precompute targets, closed-form fits, ..."""

    def training_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Loss (and logits) on one batch. ``batch`` holds ``labels``, ``index``
        and either ``images`` or (for feature-caching methods) ``features``."""
        logits = self._logits(batch)
        return {"loss": nn.functional.cross_entropy(logits, batch["labels"]), "logits": logits}

    def _logits(self, batch: dict[str, Tensor]) -> Tensor:
        if "features" in batch:
            return self.logits_from_features(batch["features"])
        return self(batch["images"])

    # -- what is trained and saved ----------------------------------------------
    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter with ``requires_grad``: the method's own and, for a
        ``trains_backbone`` method, those inside ``self.backbone``."""
        for name, p in self.named_parameters():
            if p.requires_grad and (self.trains_backbone or not name.startswith("backbone.")):
                yield p

    def _saved_keys(self) -> list[str]:
        """Names (as in ``state_dict``) of what :meth:`trainable_state_dict` saves: the
        method's own parameters and buffers and, inside the backbone, the trainable
        parameters and the buffers the method added. Frozen backbone weights are
        not saved, wherever a wrapper moved them: ``__init__`` rebuilds them."""
        own = [k for k in self.state_dict() if not k.startswith("backbone.")]
        if not self.trains_backbone:
            return own
        trainable = {n for n, p in self.named_parameters() if p.requires_grad and n.startswith("backbone.")}
        added = {n for n, _ in self.backbone.named_buffers(prefix="backbone")
                 if n[len("backbone."):] not in self._backbone_keys}
        inside = [k for k in self.state_dict() if k in trainable or k in added]
        return own + inside

    def trainable_state_dict(self) -> dict[str, Tensor]:
        """Everything the method adds to or trains in the frozen backbone (params and buffers)."""
        state = self.state_dict()
        return {k: state[k].detach().clone() for k in self._saved_keys()}

    def load_trainable_state_dict(self, state: dict[str, Tensor]) -> None:
        expected = set(self._saved_keys())
        missing = sorted(expected - set(state))
        unexpected = sorted(set(state) - expected)
        if missing or unexpected:
            raise KeyError(f"{self.name}: state mismatch, missing {missing}, unexpected {unexpected}")
        self.load_state_dict(state, strict=False)

    @classmethod
    def hard_stage_training(cls, dataset: str, shots: int, recipe: str = "lore_bench", *,
                            backbone: Any = None) -> dict[str, Any]:
        """Easy-to-hard: the hard stage's budget under ``recipe`` (only ``epochs``,
        ``lr`` and ``min_lr`` are read). Empty: the protocol's defaults."""
        return {}

    # -- optional hooks a protocol may call ---------------------------------------
    def set_confusing_labels(self, labels: Tensor) -> None:
        """Easy-to-hard, before the hard stage: the easy-stage model's predictions
        on the hard images (LORE's push term uses them). Default: ignored."""

    def prompts_for(self, images: Tensor) -> list[Tensor | None]:
        """Frozen-feature tasks: per-layer prompts for the image tower computed from
        ``images`` (LORE's White Box). Override it to take part as a White Box."""
        raise NotImplementedError(f"{self.name} has no White Box")

    @classmethod
    def can_score_unseen_classes(cls, backbone: dict) -> bool:
        """Whether this method, on the backbone config ``backbone``, can score classes
        outside its training classes (VPT: on CLIP, not with a timm ViT's linear head)."""
        return cls.scores_unseen_classes

    def retarget(self, task: TaskInfo) -> None:
        """Base-to-novel and cross-dataset evaluation: re-point the classifier at
        ``task``'s class names (and template), keeping everything trained. A
        method with ``scores_unseen_classes = True`` implements it; the
        implementation rebuilds only what is derived from the class names."""
        raise NotImplementedError(f"{self.name} has a closed-set classifier: it cannot score unseen classes")

    def _set_task(self, task: TaskInfo) -> None:
        # Keep the trial's shot count: the new task changes the classes only.
        self.task = dataclasses.replace(task, shots=self.task.shots)

    @classmethod
    def provides_white_box(cls) -> bool:
        return cls.prompts_for is not Method.prompts_for

    def adapted_features(self, images: Tensor) -> Tensor:
        """The image features [B, D] this (trained) model classifies from (LORE: the
        prompted tower's CLS feature). Easy-to-hard under the ``authors`` recipe ranks
        the hard stage on them, as LORE's release does. Override it to take part."""
        raise NotImplementedError(f"{self.name} exposes no adapted image features")

    @classmethod
    def provides_adapted_features(cls) -> bool:
        return cls.adapted_features is not Method.adapted_features

    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.trainable_parameters())

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()  # the frozen tower never trains (dropout, BN, drop-path)
        if self.trains_backbone:  # modules the method put into the tower (a LoRA's dropout) do
            for module in self.backbone.modules():
                if id(module) not in self._backbone_modules:
                    module.training = mode
        return self


@dataclass
class PrepareContext:
    """Handed to :meth:`Method.prepare`: the (un-augmented) training shots.

    ``batches()`` yields dicts with ``images`` (preprocessed, test transform),
    ``labels`` and ``index``; ``features()`` returns the frozen image features
    of all training shots (served from the feature cache where possible)."""

    device: torch.device
    labels: Tensor
    stage: str
    _batches: Any
    _features: Any

    def batches(self) -> Iterable[dict[str, Tensor]]:
        return self._batches()

    def features(self) -> Tensor:
        return self._features()
