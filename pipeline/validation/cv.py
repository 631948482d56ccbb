"""One cross-validation loop for every model: fit on each fold, predict its held-out rows and test."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np
import pandas as pd

from pipeline.engine.parallel import run_tasks
from pipeline.validation.metrics import multiclass_log_loss, row_log_loss

if TYPE_CHECKING:
    from pipeline.data.loading import Dataset
    from pipeline.validation.folds import Folds


class FoldModel(Protocol):
    """What the CV loop needs of a model: fit (with rows to stop early on) and class probabilities."""

    def fit(
        self, x_fit: np.ndarray, y_fit: np.ndarray, x_stop: np.ndarray | None, y_stop: np.ndarray | None
    ) -> None: ...

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


TUNED_ON_THESE_FOLDS = "settings tuned on these folds"


def holdout_log_loss(labels: pd.Series | None, proba: pd.DataFrame | None) -> float | None:
    """Mean log loss of holdout predictions (None without a holdout)."""
    if labels is None or proba is None:
        return None
    return float(row_log_loss(labels.to_numpy(), proba.loc[labels.index].to_numpy()).mean())


def honesty_label(optimism: tuple[str, ...]) -> str:
    """``honest``, or ``optimistic: <why>; <why>``."""
    return "optimistic: " + "; ".join(optimism) if optimism else "honest"


def merge_optimism(*sources: tuple[str, ...]) -> tuple[str, ...]:
    """The reasons of every source, each once, in order."""
    return tuple(dict.fromkeys(reason for source in sources for reason in source))


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
    held_out_ids: tuple[np.ndarray, ...] = ()
    """Ids of each fold's inner held-out rows: rows of the fold's training part that its model did
    not fit on (it stopped early on them) and that the scored fold never influenced."""
    optimism: tuple[str, ...] = ()
    """Why ``oof_score`` may be optimistic; empty when it is honest."""
    holdout_proba: pd.DataFrame | None = None
    """Predictions of the reserved rows (``[holdout]``), made as test's are; None without a holdout."""
    holdout_score: float | None = None
    """Their log loss: nothing behind this result was fitted on them."""

    @property
    def honesty(self) -> str:
        return honesty_label(self.optimism)

    def score_meta(self) -> dict:
        """Scores and info for the cache metadata (plain JSON)."""
        meta = {
            "oof_score": self.oof_score,
            "fold_scores": list(self.fold_scores),
            "optimism": list(self.optimism),
            "info": json.loads(json.dumps(self.info, default=str)),
        }
        if self.holdout_score is not None:
            meta["holdout_score"] = self.holdout_score
        return meta


@dataclass(frozen=True)
class StoppingPlan:
    """Which rows of a fold's training part are held out from fitting: an inner split, kept whole by
    duplicate group (``inner``, honest), the scored fold itself (``valid_fold``, optimistic), or
    none (``none``: the model fits on every training row)."""

    mode: str = "inner"
    inner_share: float = 0.1
    seed: int = 0

    @property
    def optimism(self) -> tuple[str, ...]:
        return ("early stopping on the scored fold",) if self.mode == "valid_fold" else ()


@dataclass(frozen=True)
class FoldRows:
    """Positions of one fold's rows: fitted on, held out from fitting (may be empty), scored."""

    fit: np.ndarray
    stop: np.ndarray
    valid: np.ndarray


class WrapsModel:
    """A fold model around another: attributes it lacks (``best_iteration``, ``history``, ...) are
    those of ``self.model``."""

    def __getattr__(self, name: str):
        if name in ("model", "models"):  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.model, name)

    def for_permutations(self):
        """This wrapper around the inner model's permutation predictor, when the model has one."""
        inner = permutation_ready(self.model)
        if inner is self.model:
            return self
        clone = copy.copy(self)
        clone.model = inner
        return clone


def permutation_ready(model):
    """The model's predictor for permutation importance (capability ``for_permutations``: faster
    predictions on rows that differ from its first ones in a few columns), else the model itself."""
    make = getattr(type(model), "for_permutations", None)
    return model if make is None else make(model)


class ColumnSubset(WrapsModel):
    """A fold model that sees only some columns of the feature matrix (per-fold feature sets)."""

    def __init__(self, model: FoldModel, columns: np.ndarray):
        self.model, self.columns = model, np.asarray(columns)

    def fit(self, x_fit, y_fit, x_stop, y_stop) -> None:
        pick = self.columns
        self.model.fit(x_fit[:, pick], y_fit, None if x_stop is None else x_stop[:, pick], y_stop)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x[:, self.columns])


def inner_split(
    labels: np.ndarray, share: float, seed: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split positions into (fit, stop), stratified by class, drawing whole duplicate groups (each by
    its first row's label); a class with one group stays in fit."""
    groups = np.arange(len(labels)) if groups is None else groups
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    group_labels = labels[first]
    rng = np.random.default_rng(seed)
    stop_group = np.zeros(len(first), dtype=bool)
    for cls in np.unique(group_labels):
        members = rng.permutation(np.flatnonzero(group_labels == cls))
        take = int(round(share * len(members))) if len(members) > 1 else 0
        stop_group[members[:take]] = True
    stop_row = stop_group[inverse]
    return np.flatnonzero(~stop_row), np.flatnonzero(stop_row)


def fold_rows(plan: StoppingPlan, labels: np.ndarray, fold_of_row: np.ndarray, groups: np.ndarray, fold: int):
    """The rows fold ``fold`` fits on, holds out from fitting and is scored on, as the plan says."""
    valid = np.flatnonzero(fold_of_row == fold)
    train = np.flatnonzero(fold_of_row != fold)
    if plan.mode == "inner":
        fit, stop = inner_split(labels[train], plan.inner_share, plan.seed + fold, groups[train])
        return FoldRows(train[fit], train[stop], valid)
    if plan.mode == "valid_fold":
        return FoldRows(train, valid, valid)
    return FoldRows(train, np.zeros(0, dtype=np.int64), valid)


class SeedAverage(WrapsModel):
    """The fold's models trained with different seeds; probabilities are their mean (other
    attributes are the first seed's)."""

    def __init__(self, models: list):
        self.models = models
        self.model = models[0]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.mean([model.predict_proba(x) for model in self.models], axis=0)

    def for_permutations(self) -> SeedAverage:
        return SeedAverage([permutation_ready(model) for model in self.models])


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
    rows: FoldRows,
    fold: int,
    seed_index: int,
) -> FoldOutcome:
    """One task: a fresh model for (fold, seed), fitted on the fold's fit rows (stopping early on its
    held-out rows, if any), predicting the scored rows and test."""
    start = time.perf_counter()
    model = make_model(fold, seed_index)
    stop = rows.stop if len(rows.stop) else None
    model.fit(x[rows.fit], y[rows.fit], None if stop is None else x[stop], None if stop is None else y[stop])
    valid_proba, test_proba = model.predict_proba(x[rows.valid]), model.predict_proba(x_test)
    return FoldOutcome(model, valid_proba, test_proba, time.perf_counter() - start)


def folds_one_by_one(
    tasks: list[tuple], rows: list[FoldRows], y: np.ndarray, n_seeds: int, on_fold: Callable, name: str
) -> list[FoldOutcome]:
    """The fold tasks a fold at a time, telling ``on_fold`` each fold's log loss and that of the folds
    done so far."""
    outcomes: list[FoldOutcome] = []
    scored, proba = [], []
    for fold in range(len(rows)):
        mine = run_tasks(
            fit_and_predict, tasks[fold * n_seeds : (fold + 1) * n_seeds], desc=f"{name} fold {fold}"
        )
        outcomes += mine
        scored.append(rows[fold].valid)
        proba.append(np.mean([o.valid_proba for o in mine], axis=0))
        fold_score = multiclass_log_loss(y[rows[fold].valid], proba[-1])
        on_fold(fold, fold_score, multiclass_log_loss(y[np.concatenate(scored)], np.concatenate(proba)))
    return outcomes


def cross_validate(
    name: str,
    make_model: Callable[[int, int], FoldModel],
    x_train: pd.DataFrame,
    x_test: pd.DataFrame,
    data: Dataset,
    folds: Folds,
    plan: StoppingPlan,
    n_seeds: int = 1,
    optimism: tuple[str, ...] = (),
    on_fold: Callable[[int, float, float], None] | None = None,
    x_holdout: pd.DataFrame | None = None,
) -> ModelResult:
    """Train a model per fold and seed on shared folds; a fold's prediction is its seeds' mean.
    OOF covers every train row; test is averaged over folds. Tasks run on the configured backend.
    ``optimism``: reasons the inputs make the score optimistic (folds' and plan's are added).
    ``on_fold(fold, its log loss, log loss of the folds so far)``: folds then run one after another,
    and the callback may raise to stop (a pruned tuning trial). ``x_holdout``: reserved rows, predicted
    with the test rows (the mean of the fold models) and scored on ``data.holdout_labels``."""
    predicted = x_test if x_holdout is None else pd.concat([x_test, x_holdout])
    x, x_test_values = x_train.to_numpy(np.float32), predicted.to_numpy(np.float32)
    y = data.labels.loc[x_train.index].to_numpy()
    fold_of_row = folds.fold_of_row.loc[x_train.index].to_numpy()
    groups = folds.groups(x_train.index)
    rows = [fold_rows(plan, y, fold_of_row, groups, fold) for fold in range(folds.n_splits)]
    tasks = [
        (make_model, x, y, x_test_values, rows[fold], fold, seed)
        for fold in range(folds.n_splits)
        for seed in range(n_seeds)
    ]
    if on_fold is None:
        outcomes = run_tasks(fit_and_predict, tasks, desc=name)
    else:
        outcomes = folds_one_by_one(tasks, rows, y, n_seeds, on_fold, name)
    oof = np.zeros((len(x), data.n_classes))
    test = np.zeros((len(x_test_values), data.n_classes))
    scores, seconds, models = [], [], []
    for fold in range(folds.n_splits):
        mine = outcomes[fold * n_seeds : (fold + 1) * n_seeds]
        valid = rows[fold].valid
        oof[valid] = np.mean([o.valid_proba for o in mine], axis=0)
        test += np.mean([o.test_proba for o in mine], axis=0) / folds.n_splits
        scores.append(multiclass_log_loss(y[valid], oof[valid]))
        seconds.append(sum(o.seconds for o in mine))
        models.append(mine[0].model if n_seeds == 1 else SeedAverage([o.model for o in mine]))
    columns = list(data.classes)
    held_out = [x_train.index.to_numpy()[r.stop] if plan.mode == "inner" else r.stop[:0] for r in rows]
    n_test = len(x_test)
    holdout = (
        None if x_holdout is None else pd.DataFrame(test[n_test:], index=x_holdout.index, columns=columns)
    )
    return ModelResult(
        name=name,
        oof_proba=pd.DataFrame(oof, index=x_train.index, columns=columns),
        test_proba=pd.DataFrame(test[:n_test], index=x_test.index, columns=columns),
        fold_scores=tuple(scores),
        fold_seconds=tuple(seconds),
        oof_score=multiclass_log_loss(y, oof),
        folds_signature=folds.signature,
        info={"early_stopping": plan.mode, "n_seeds": n_seeds},
        fold_models=tuple(models),
        held_out_ids=tuple(held_out),
        optimism=merge_optimism(folds.optimism, plan.optimism, optimism),
        holdout_proba=holdout,
        holdout_score=holdout_log_loss(data.holdout_labels, holdout),
    )
