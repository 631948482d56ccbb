"""The blend stage: weights on the probability simplex that minimise OOF log loss."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import minimize

from pipeline.cv import ModelResult
from pipeline.metrics import multiclass_log_loss, per_fold_log_loss

if TYPE_CHECKING:
    from pipeline.config import BlendConfig
    from pipeline.data import Dataset
    from pipeline.folds import Folds


def check_same_folds(models: tuple[ModelResult, ...], folds: Folds) -> None:
    """The blend never mixes predictions made on different splits."""
    for model in models:
        if model.folds_signature != folds.signature:
            raise ValueError(
                f"model '{model.name}' was trained on other folds than the blend's "
                f"({model.folds_signature} != {folds.signature})"
            )


def fit_simplex_weights(oof_probas: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the log loss of the weighted mean (SLSQP)."""
    n = len(oof_probas)
    if n == 1:
        return np.ones(1)
    stacked = np.stack(oof_probas)

    def loss(weights: np.ndarray) -> float:
        return multiclass_log_loss(labels, np.tensordot(weights, stacked, axes=1))

    result = minimize(
        loss,
        np.full(n, 1.0 / n),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * n,
        constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0},),
    )
    weights = np.clip(result.x, 0.0, None)
    return weights / weights.sum()


def blend_models(data: Dataset, folds: Folds, *models: ModelResult, cfg: BlendConfig) -> ModelResult:
    """Weighted mean of the models' probabilities; with one model, that model. Score is optimistic
    when weights were fitted (they saw the OOF they are scored on)."""
    check_same_folds(models, folds)
    labels = data.labels.loc[models[0].oof_proba.index].to_numpy()
    weights = fit_simplex_weights([m.oof_proba.to_numpy() for m in models], labels)
    oof = sum(w * m.oof_proba for w, m in zip(weights, models))
    test = sum(w * m.test_proba for w, m in zip(weights, models))
    fold_of_row = folds.fold_of_row.loc[oof.index].to_numpy()
    return ModelResult(
        name="blend",
        oof_proba=oof,
        test_proba=test,
        fold_scores=per_fold_log_loss(labels, oof.to_numpy(), fold_of_row),
        fold_seconds=(),
        oof_score=multiclass_log_loss(labels, oof.to_numpy()),
        folds_signature=folds.signature,
        info={"weights": {m.name: float(w) for m, w in zip(models, weights)}, "optimistic": len(models) > 1},
    )
