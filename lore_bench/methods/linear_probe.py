"""Linear probe: L2-regularised logistic regression on frozen image features.

As in CLIP's and CoOp's linear-probe protocol (sklearn L-BFGS on the raw,
unnormalised image-encoder output), the inverse regularisation strength C is
searched - a coarse grid 1e-6..1e6 by factors of 100, then a log-space
bisection around the best - but on a stratified held-out part of the training
shots, never on the test set (CoOp used a separate validation split). The
final fit uses all shots with the chosen C. At 1 shot nothing can be held out
and C is fixed (``one_shot_C``, sklearn's default 1.0).

Every fit is solved to convergence (Newton-CG in float64, gradient below
``tol``), so the result is the optimum of the objective - a function of the
data alone. CLIP's and CoOp's L-BFGS stopped at sklearn's tol 1e-4 / 1,000
iterations in float32, and where it stops depends on the last bits of the
features: the same trial computed its features with 1 or 2 threads (bits
differing by ~5e-7) and got a bias 0.25 apart and another top-1 (the "linear
probe is not deterministic" of issue 12). The optimum does not move with such
noise; the search, the objective and C are unchanged.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor, nn

from ..backbones.base import Backbone
from .base import Method, PrepareContext, TaskInfo
from .recipes import DEFAULT_RECIPE, check_recipe
from .registry import register_method

log = logging.getLogger(__name__)


@dataclass
class LinearProbeConfig:
    C: Optional[float] = None  # fixed C; None searches it on held-out shots
    one_shot_C: float = 1.0  # used when no class has two shots to split
    holdout_fraction: float = 0.25  # per class, at least one shot held out
    search_steps: int = 4  # bisection steps after the coarse grid
    max_iter: int = 1000  # Newton iterations at most (it converges in tens)
    tol: float = 1e-8  # converged: the fit does not depend on float noise of the features
    seed: int = 0  # of the held-out split


@register_method
class LinearProbe(Method):
    name = "linear_probe"
    Config = LinearProbeConfig
    caches_image_features = True
    requires_text = False  # image features only: works on timm ViTs too

    def __init__(self, cfg: LinearProbeConfig, backbone: Backbone, task: TaskInfo):
        super().__init__(cfg, backbone, task)
        # A Linear head so the engine can evaluate, checkpoint and count it like
        # any method: feature_dim * C + C parameters (512 * C + C on ViT-B/16).
        self.head = nn.Linear(backbone.info.feature_dim, task.num_classes)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.chosen_C: float | None = None

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """Nothing for the tuned protocol to search: the recipe already picks C on
        held-out training shots, and there are no SGD epochs (docs/tuned.md)."""
        return {}

    @classmethod
    def default_training(cls, dataset: str, shots: int, recipe: str = DEFAULT_RECIPE, **context) -> dict[str, Any]:
        check_recipe(recipe)  # one recipe: nothing is trained by SGD
        return {"epochs": 0}  # closed-form-ish fit in prepare(), no SGD epochs

    def logits_from_features(self, features: Tensor) -> Tensor:
        return self.head(features.to(self.head.weight.dtype))

    def prepare(self, context: PrepareContext) -> None:
        x = context.features().detach().cpu().double().numpy()
        y = context.labels.detach().cpu().numpy().astype(np.int64)
        if len(y) == 0:
            raise ValueError("linear_probe needs training shots (shots >= 1)")
        C = self.cfg.C if self.cfg.C is not None else self._search_C(x, y)
        self.chosen_C = float(C)
        clf = self._fit(x, y, C)
        w, b = _full_weights(clf, self.task.num_classes, x.shape[1])
        with torch.no_grad():
            self.head.weight.copy_(torch.from_numpy(w))
            self.head.bias.copy_(torch.from_numpy(b))
        log.info("linear_probe: C=%g on %d shots", C, len(y))

    # -- fitting -----------------------------------------------------------------
    def _fit(self, x: np.ndarray, y: np.ndarray, C: float):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        from threadpoolctl import threadpool_limits

        # Few-shot problems are small: BLAS threads only add overhead there (10x
        # on a busy machine); large ones (ImageNet) get torch's thread budget.
        threads = 1 if x.size * (int(y.max()) + 1) < 50_000_000 else torch.get_num_threads()
        # Newton-CG reaches tol 1e-8 in tens of iterations where L-BFGS needs
        # thousands at large C (measured: 1.6x faster than the old 1e-4 L-BFGS).
        clf = LogisticRegression(C=C, solver="newton-cg", tol=self.cfg.tol, max_iter=self.cfg.max_iter)
        with warnings.catch_warnings(), threadpool_limits(threads):
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x, y)
        if int(np.max(clf.n_iter_)) >= self.cfg.max_iter:
            log.warning("linear_probe: C=%g stopped at max_iter=%d before tol=%g; the fit may vary from run "
                        "to run", C, self.cfg.max_iter, self.cfg.tol)
        return clf

    def _search_C(self, x: np.ndarray, y: np.ndarray) -> float:
        split = holdout_split(y, self.cfg.holdout_fraction, self.cfg.seed)
        if split is None:
            return self.cfg.one_shot_C
        tr, va = split

        def score(log_c: float) -> float:
            clf = self._fit(x[tr], y[tr], 10.0**log_c)
            return float((clf.predict(x[va]) == y[va]).mean())

        grid = [6.0, 4.0, 2.0, 0.0, -2.0, -4.0, -6.0]  # strong C first: ties go to it, as in CoOp
        scores = [score(c) for c in grid]
        best = grid[int(np.argmax(scores))]
        best_score = max(scores)
        lo, hi = best - 1.0, best + 1.0
        for _ in range(self.cfg.search_steps):
            s_lo, s_hi = score(lo), score(hi)
            for c, s in ((hi, s_hi), (lo, s_lo)):
                if s > best_score:  # ties keep the earlier (coarser-grid) choice
                    best, best_score = c, s
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if s_hi >= s_lo else (lo, mid)
        return 10.0**best


def holdout_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Stratified (train, held-out) indices: per class ``max(1, round(fraction*n))``
    held out when the class has >= 2 shots. None when nothing can be held out."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = max(1, int(round(fraction * len(idx)))) if len(idx) >= 2 else 0
        held.extend(idx[:k])
        train.extend(idx[k:])
    if not held or len(np.unique(y[train])) < 2:
        return None
    return np.asarray(train), np.asarray(held)


def _full_weights(clf, num_classes: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's coef_/intercept_ -> [num_classes, dim] / [num_classes], also when
    some classes were absent from the fit (their logit stays at -inf-ish) or
    the problem was binary (sklearn then keeps one row)."""
    w = np.zeros((num_classes, dim), dtype=np.float32)
    b = np.full(num_classes, -1e4, dtype=np.float32)
    classes = clf.classes_
    if len(classes) == 2:
        w[classes[1]], b[classes[1]] = clf.coef_[0] / 2, clf.intercept_[0] / 2
        w[classes[0]], b[classes[0]] = -clf.coef_[0] / 2, -clf.intercept_[0] / 2
    else:
        w[classes], b[classes] = clf.coef_, clf.intercept_
    return w, b
