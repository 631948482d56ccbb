"""One cross-validation loop for every model: fit on each fold, predict its held-out rows and test."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np
import pandas as pd

from pipeline.metrics import multiclass_log_loss
from pipeline.parallel import run_tasks

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


class WrapsModel:
    """A fold model around another: attributes it lacks (``best_iteration``, ``history``, ...) are
    those of ``self.model``."""

    def __getattr__(self, name: str):
        if name == "model":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.model, name)


class ColumnSubset(WrapsModel):
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
    """Fit on the fold's training rows, stopping early on the rows the plan names (none: no stopping)."""
    if plan.mode == "none":
        model.fit(x[train], y[train], None, None)
        return
    if plan.mode == "valid_fold":
        model.fit(x[train], y[train], x[valid], y[valid])
        return
    fit, stop = inner_split(y[train], plan.inner_share, plan.seed + fold)
    model.fit(x[train[fit]], y[train[fit]], x[train[stop]], y[train[stop]])


class SeedAverage(WrapsModel):
    """The fold's models trained with different seeds; probabilities are their mean (other
    attributes are the first seed's)."""

    def __init__(self, models: list):
        self.models = models
        self.model = models[0]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.mean([model.predict_proba(x) for model in self.models], axis=0)


@dataclass(frozen=True)
class FoldOutcome:
    """One (fold, seed) task's trained model and predictions."""

    model: FoldModel
    valid_proba: np.ndarray
    test_proba: np.ndarray
    seconds: float


def fit_and_predict(
    make_model: Callable[[int, int], FoldModel],
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    train: np.ndarray,
    valid: np.ndarray,
    plan: StoppingPlan,
    fold: int,
    seed_index: int,
) -> FoldOutcome:
    """One task: a fresh model for (fold, seed), fitted on the fold's rows, predicting valid and test."""
    start = time.perf_counter()
    model = make_model(fold, seed_index)
    fit_fold(model, x, y, train, valid, plan, fold)
    valid_proba, test_proba = model.predict_proba(x[valid]), model.predict_proba(x_test)
    return FoldOutcome(model, valid_proba, test_proba, time.perf_counter() - start)


def cross_validate(
    name: str,
    make_model: Callable[[int, int], FoldModel],
    x_train: pd.DataFrame,
    x_test: pd.DataFrame,
    data: Dataset,
    folds: Folds,
    plan: StoppingPlan,
    n_seeds: int = 1,
) -> ModelResult:
    """Train a model per fold and seed on shared folds; a fold's prediction is its seeds' mean.
    OOF covers every train row; test is averaged over folds. Tasks run on the configured backend."""
    x, x_test_values = x_train.to_numpy(np.float32), x_test.to_numpy(np.float32)
    y, fold_of_row = (
        data.labels.loc[x_train.index].to_numpy(),
        folds.fold_of_row.loc[x_train.index].to_numpy(),
    )
    rows = [
        (np.flatnonzero(fold_of_row != fold), np.flatnonzero(fold_of_row == fold))
        for fold in range(folds.n_splits)
    ]
    tasks = [
        (make_model, x, y, x_test_values, *rows[fold], plan, fold, seed)
        for fold in range(folds.n_splits)
        for seed in range(n_seeds)
    ]
    outcomes = run_tasks(fit_and_predict, tasks, desc=name)
    oof = np.zeros((len(x), data.n_classes))
    test = np.zeros((len(x_test_values), data.n_classes))
    scores, seconds, models = [], [], []
    for fold in range(folds.n_splits):
        mine = outcomes[fold * n_seeds : (fold + 1) * n_seeds]
        valid = rows[fold][1]
        oof[valid] = np.mean([o.valid_proba for o in mine], axis=0)
        test += np.mean([o.test_proba for o in mine], axis=0) / folds.n_splits
        scores.append(multiclass_log_loss(y[valid], oof[valid]))
        seconds.append(sum(o.seconds for o in mine))
        models.append(mine[0].model if n_seeds == 1 else SeedAverage([o.model for o in mine]))
    columns = list(data.classes)
    return ModelResult(
        name=name,
        oof_proba=pd.DataFrame(oof, index=x_train.index, columns=columns),
        test_proba=pd.DataFrame(test, index=x_test.index, columns=columns),
        fold_scores=tuple(scores),
        fold_seconds=tuple(seconds),
        oof_score=multiclass_log_loss(y, oof),
        folds_signature=folds.signature,
        info={"early_stopping": plan.mode, "n_seeds": n_seeds},
        fold_models=tuple(models),
    )
