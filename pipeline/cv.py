"""One cross-validation loop for every model: fit on each fold, predict its held-out rows and test."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np
import pandas as pd

from pipeline.metrics import multiclass_log_loss
from pipeline.progress import progress

if TYPE_CHECKING:
    from pipeline.data import Dataset
    from pipeline.folds import Folds


class FoldModel(Protocol):
    """What the CV loop needs of a model: fit (with rows to stop early on) and class probabilities."""

    def fit(
        self, x_fit: np.ndarray, y_fit: np.ndarray, x_stop: np.ndarray | None, y_stop: np.ndarray | None
    ) -> None: ...

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelResult:
    """OOF and test probabilities (id index, one column per class) with per-fold scores."""

    name: str
    oof_proba: pd.DataFrame
    test_proba: pd.DataFrame
    fold_scores: tuple[float, ...]
    fold_seconds: tuple[float, ...]
    oof_score: float
    folds_signature: str
    info: dict = field(default_factory=dict)
    fold_models: tuple = ()
    """The trained model of each fold (for permutation importance or your own predictions)."""


@dataclass(frozen=True)
class StoppingPlan:
    """Where early stopping looks: an inner split of the training rows (honest) or the held-out fold."""

    mode: str = "inner"
    inner_share: float = 0.1
    seed: int = 0


class ColumnSubset:
    """A fold model that sees only some columns of the feature matrix (per-fold feature sets)."""

    def __init__(self, model: FoldModel, columns: np.ndarray):
        self.model, self.columns = model, np.asarray(columns)

    def fit(self, x_fit, y_fit, x_stop, y_stop) -> None:
        pick = self.columns
        self.model.fit(x_fit[:, pick], y_fit, None if x_stop is None else x_stop[:, pick], y_stop)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x[:, self.columns])


def inner_split(labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of positions into (fit, stop); a class with one row stays in fit."""
    rng = np.random.default_rng(seed)
    stop = []
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        take = int(round(share * len(rows))) if len(rows) > 1 else 0
        stop.append(rows[:take])
    stop_rows = np.sort(np.concatenate(stop))
    return np.setdiff1d(np.arange(len(labels)), stop_rows), stop_rows


def fit_fold(
    model: FoldModel,
    x: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    valid: np.ndarray,
    plan: StoppingPlan,
    fold: int,
) -> None:
    """Fit on the fold's training rows, stopping early on the rows the plan names."""
    if plan.mode == "valid_fold":
        model.fit(x[train], y[train], x[valid], y[valid])
        return
    fit, stop = inner_split(y[train], plan.inner_share, plan.seed + fold)
    model.fit(x[train[fit]], y[train[fit]], x[train[stop]], y[train[stop]])


def cross_validate(
    name: str,
    make_model: Callable[[int], FoldModel],
    x_train: pd.DataFrame,
    x_test: pd.DataFrame,
    data: Dataset,
    folds: Folds,
    plan: StoppingPlan,
) -> ModelResult:
    """Train one model per fold on shared folds; OOF for every train row, test averaged over folds."""
    x, x_test_values = x_train.to_numpy(np.float32), x_test.to_numpy(np.float32)
    y, fold_of_row = (
        data.labels.loc[x_train.index].to_numpy(),
        folds.fold_of_row.loc[x_train.index].to_numpy(),
    )
    oof = np.zeros((len(x), data.n_classes))
    test = np.zeros((len(x_test_values), data.n_classes))
    scores, seconds, models = [], [], []
    bar = progress(range(folds.n_splits), desc=name, unit="fold")
    for fold in bar:
        start = time.perf_counter()
        train, valid = np.flatnonzero(fold_of_row != fold), np.flatnonzero(fold_of_row == fold)
        model = make_model(fold)
        fit_fold(model, x, y, train, valid, plan, fold)
        models.append(model)
        oof[valid] = model.predict_proba(x[valid])
        test += model.predict_proba(x_test_values) / folds.n_splits
        scores.append(multiclass_log_loss(y[valid], oof[valid]))
        seconds.append(time.perf_counter() - start)
        bar.set_postfix(logloss=f"{scores[-1]:.4f}")
    columns = list(data.classes)
    return ModelResult(
        name=name,
        oof_proba=pd.DataFrame(oof, index=x_train.index, columns=columns),
        test_proba=pd.DataFrame(test, index=x_test.index, columns=columns),
        fold_scores=tuple(scores),
        fold_seconds=tuple(seconds),
        oof_score=multiclass_log_loss(y, oof),
        folds_signature=folds.signature,
        info={"early_stopping": plan.mode},
        fold_models=tuple(models),
    )
