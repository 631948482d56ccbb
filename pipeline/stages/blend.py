"""The blend stage: simplex weights on the models' OOF predictions, scored honestly.

Two ways to combine, each with optional temperature:
- ``linear``: the weighted mean of the probabilities;
- ``geometric``: the weighted mean of the log probabilities, renormalised (log-space pooling).

Weights fitted on all OOF rows are scored on the rows they saw: the *optimistic* score. The *honest*
score refits the weights on the other folds for each fold and scores that fold with them (nested);
the blend's OOF predictions are those nested ones, its test predictions use weights from all rows.
With ``method = "auto"`` each fold keeps the method whose weights fit the other folds better, and the
submission the one whose weights fit all OOF rows better: no fold's choice sees its own rows.
``method = "stack"``: a level-2 logistic regression instead (``pipeline/stages/stack.py``), nested the
same way. Holdout rows, when reserved, are combined like test rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.optimize import minimize, minimize_scalar

from pipeline.stages.stack import (
    StackSettings,
    centred_log_proba,
    nested_stack,
    own_class_weights,
    stacker_of,
)
from pipeline.validation.cv import ModelResult, holdout_log_loss, merge_optimism
from pipeline.validation.metrics import EPSILON, multiclass_log_loss, per_fold_log_loss

if TYPE_CHECKING:
    from pipeline.data.loading import Dataset
    from pipeline.stages.config import BlendConfig
    from pipeline.validation.folds import Folds

METHODS = ("linear", "geometric")
BLOCK_ROWS = 8192  # rows per block: a block's (rows, classes) temporaries stay in the CPU's cache
ALL_ROWS_WEIGHTS = "weights fitted on the OOF rows they score"
ALL_ROWS_STACKER = "stacker fitted on the OOF rows it scores"


def check_same_folds(models: tuple[ModelResult, ...], folds: Folds) -> None:
    """The blend never mixes predictions made on different splits."""
    for model in models:
        if model.folds_signature != folds.signature:
            raise ValueError(
                f"model '{model.name}' was trained on other folds than the blend's "
                f"({model.folds_signature} != {folds.signature})"
            )


@dataclass(frozen=True)
class BlendFit:
    """Weights on the simplex and a temperature for one combining method."""

    method: str
    weights: np.ndarray
    temperature: float = 1.0

    def apply(self, stacked: np.ndarray) -> np.ndarray:
        """Blend probabilities ``stacked`` (models, rows, classes) into (rows, classes)."""
        return np.exp(self.log_proba(BlendInputs(stacked)))

    def mixed(self, inputs: BlendInputs) -> np.ndarray:
        """The weighted combination before temperature and normalisation (rows, classes)."""
        if self.method == "linear":
            return np.log(np.clip(np.einsum("m,mrc->rc", self.weights, inputs.proba), EPSILON, 1.0))
        return np.einsum("m,mrc->rc", self.weights, inputs.log_proba)

    def log_proba(self, inputs: BlendInputs, mixed: np.ndarray | None = None) -> np.ndarray:
        """Normalised log probabilities of the blend (``mixed`` reused when given)."""
        log_p = (self.mixed(inputs) if mixed is None else mixed) / self.temperature
        return log_p - log_sum_exp(log_p)[:, None]

    def loss(self, inputs: BlendInputs, labels: np.ndarray, mixed: np.ndarray | None = None) -> float:
        """Log loss on ``labels`` (probabilities floored at the metric's epsilon), a block of rows at
        a time."""
        total = 0.0
        for block in row_blocks(len(labels)):
            part = inputs.rows_of(block)
            log_p = self.log_proba(part, None if mixed is None else mixed[block])
            true = log_p[np.arange(len(log_p)), labels[block]]
            total += float(np.maximum(true, np.log(EPSILON)).sum())
        return -total / len(labels)


class BlendInputs:
    """The models' probabilities with their clipped logs computed once (the optimiser reuses them)."""

    def __init__(self, proba: np.ndarray, log_proba: np.ndarray | None = None):
        self.proba = proba
        self.log_proba = np.log(np.clip(proba, EPSILON, 1.0)) if log_proba is None else log_proba

    def rows_of(self, block: slice) -> BlendInputs:
        """The same models on a block of rows (views, no copies)."""
        return BlendInputs(self.proba[:, block], self.log_proba[:, block])


def row_blocks(n_rows: int) -> list[slice]:
    """Consecutive blocks of ``BLOCK_ROWS`` rows: row-wise sums in blocks keep the blend's cost
    linear in rows (whole-array temporaries outgrow the cache at Dacon's scale)."""
    return [slice(start, min(start + BLOCK_ROWS, n_rows)) for start in range(0, n_rows, BLOCK_ROWS)]


def log_sum_exp(values: np.ndarray) -> np.ndarray:
    """log(sum(exp(values))) of each row of finite values, stable (the row's maximum taken out)."""
    top = values.max(axis=1)
    return np.log(np.exp(values - top[:, None]).sum(axis=1)) + top


def fit_blend(method: str, stacked, labels: np.ndarray, temperature: bool) -> BlendFit:
    """Weights (SLSQP on the simplex, also trying each single model), then the temperature."""
    inputs = stacked if isinstance(stacked, BlendInputs) else BlendInputs(stacked)
    weights = fit_simplex_weights(method, inputs, labels)
    fit = BlendFit(method, weights)
    if not temperature:
        return fit
    mixed = fit.mixed(inputs)
    best = minimize_scalar(
        lambda t: BlendFit(method, weights, t).loss(inputs, labels, mixed),
        bounds=(0.25, 4.0),
        method="bounded",
    )
    return BlendFit(method, weights, float(best.x))


class WeightObjective:
    """Log loss of the blend (temperature 1) as a function of its weights, with its gradient, for the
    optimiser. Linear blends need only each row's true-class and total probabilities; geometric ones
    the log probabilities of every class."""

    def __init__(self, method: str, inputs: BlendInputs, labels: np.ndarray):
        self.method = method
        rows = np.arange(len(labels))
        if method == "linear":
            self.true = inputs.proba[:, rows, labels]  # (models, rows)
            self.total = inputs.proba.sum(axis=2)
        else:
            self.log_proba = inputs.log_proba  # (models, rows, classes)
            self.true = inputs.log_proba[:, rows, labels]

    def __call__(self, weights: np.ndarray) -> tuple[float, np.ndarray]:
        if self.method == "linear":
            true, total = np.maximum(weights @ self.true, EPSILON), weights @ self.total
            loss = np.mean(np.log(total) - np.log(true))
            return float(loss), (self.total / total - self.true / true).mean(axis=1)
        n_rows = self.true.shape[1]
        norm_sum, expected = 0.0, np.zeros(len(weights))
        for block in row_blocks(n_rows):
            log_proba = self.log_proba[:, block]
            mixed = np.einsum("m,mrc->rc", weights, log_proba)  # (rows, classes)
            norm = log_sum_exp(mixed)
            norm_sum += float(norm.sum())
            expected += np.einsum("rc,mrc->m", np.exp(mixed - norm[:, None]), log_proba)
        loss = norm_sum / n_rows - float(weights @ self.true.mean(axis=1))
        return loss, expected / n_rows - self.true.mean(axis=1)


def fit_simplex_weights(method: str, stacked, labels: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the blend's log loss on ``labels`` (SLSQP with
    the analytic gradient; each single model is also a candidate)."""
    inputs = stacked if isinstance(stacked, BlendInputs) else BlendInputs(stacked)
    n = len(inputs.proba)
    if n == 1:
        return np.ones(1)

    def loss(weights: np.ndarray) -> float:
        return BlendFit(method, weights).loss(inputs, labels)

    result = minimize(
        WeightObjective(method, inputs, labels),
        np.full(n, 1.0 / n),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * n,
        constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)},),
        options={"ftol": 1e-10, "maxiter": 200},
    )
    candidates = [np.clip(result.x, 0.0, None)] + list(np.eye(n))
    candidates = [w / w.sum() for w in candidates]
    return min(candidates, key=loss)


def fit_methods(methods: tuple[str, ...], inputs: BlendInputs, labels: np.ndarray, temperature: bool):
    """Each method's fit on these rows."""
    return {method: fit_blend(method, inputs, labels, temperature) for method in methods}


def better_fit(fits: dict[str, BlendFit], inputs: BlendInputs, labels: np.ndarray) -> str:
    """The method whose weights fit their own rows better (both methods have as many parameters)."""
    return min(fits, key=lambda method: fits[method].loss(inputs, labels))


@dataclass(frozen=True)
class NestedBlend:
    """Each fold's rows blended by weights and a method chosen on the other folds' rows only."""

    proba: np.ndarray
    by_method: dict[str, np.ndarray]
    method_per_fold: tuple[str, ...]


def nested_blend(
    methods: tuple[str, ...],
    stacked: np.ndarray,
    labels: np.ndarray,
    fold_of_row: np.ndarray,
    temperature: bool,
) -> NestedBlend:
    """For each fold: every method fitted on the other folds, the better fit chosen there, then
    applied to the fold. Nothing about a fold's rows reaches its own predictions."""
    by_method = {method: np.empty(stacked.shape[1:]) for method in methods}
    proba, chosen = np.empty(stacked.shape[1:]), []
    for fold in np.unique(fold_of_row):
        held = fold_of_row == fold
        inputs = BlendInputs(stacked[:, ~held])
        fits = fit_methods(methods, inputs, labels[~held], temperature)
        chosen.append(better_fit(fits, inputs, labels[~held]))
        for method, fit in fits.items():
            by_method[method][held] = fit.apply(stacked[:, held])
        proba[held] = by_method[chosen[-1]][held]
    return NestedBlend(proba, by_method, tuple(chosen))


@dataclass(frozen=True)
class Members:
    """The members' predictions aligned: OOF (models, rows, classes), test, holdout (or None)."""

    index: pd.Index
    labels: np.ndarray
    fold_of_row: np.ndarray
    oof: np.ndarray
    test: np.ndarray
    holdout: np.ndarray | None


def aligned_members(data: Dataset, folds: Folds, models: tuple[ModelResult, ...]) -> Members:
    check_same_folds(models, folds)
    index = models[0].oof_proba.index
    holdout = None
    if data.holdout_labels is not None and all(m.holdout_proba is not None for m in models):
        holdout = np.stack([m.holdout_proba.loc[data.holdout_labels.index].to_numpy() for m in models])
    return Members(
        index=index,
        labels=data.labels.loc[index].to_numpy(),
        fold_of_row=folds.fold_of_row.loc[index].to_numpy(),
        oof=np.stack([m.oof_proba.loc[index].to_numpy() for m in models]),
        test=np.stack([m.test_proba.to_numpy() for m in models]),
        holdout=holdout,
    )


def combined_result(
    data: Dataset, folds: Folds, models: tuple[ModelResult, ...], members: Members, oof, test, holdout, info
) -> ModelResult:
    """The blend's (or stacker's) result: nested OOF, test and holdout predictions, scores, info."""
    columns = list(data.classes)
    holdout_frame = (
        None if holdout is None else pd.DataFrame(holdout, index=data.holdout_labels.index, columns=columns)
    )
    score = multiclass_log_loss(members.labels, oof)
    return ModelResult(
        name="blend",
        oof_proba=pd.DataFrame(oof, index=members.index, columns=columns),
        test_proba=pd.DataFrame(test, index=models[0].test_proba.index, columns=columns),
        fold_scores=per_fold_log_loss(members.labels, oof, members.fold_of_row),
        fold_seconds=(),
        oof_score=score,
        folds_signature=folds.signature,
        optimism=merge_optimism(*(m.optimism for m in models)),
        info={"nested_score": score, **info},
        holdout_proba=holdout_frame,
        holdout_score=holdout_log_loss(data.holdout_labels, holdout_frame),
    )


def stack_models(
    data: Dataset, folds: Folds, models: tuple[ModelResult, ...], cfg: BlendConfig
) -> ModelResult:
    """The level-2 stacker (``pipeline/stages/stack.py``): nested OOF, test from the stacker chosen and
    fitted on all OOF rows, its per-class weights in ``info``."""
    members = aligned_members(data, folds, models)
    x = centred_log_proba(members.oof)
    inputs = BlendInputs(members.oof)

    def blend_weights(positions: np.ndarray) -> np.ndarray:
        part = BlendInputs(inputs.proba[:, positions], inputs.log_proba[:, positions])
        return fit_simplex_weights("geometric", part, members.labels[positions])

    settings = StackSettings(cfg.stack_form, tuple(cfg.stack_penalty), cfg.stack_max_iter)
    nested = nested_stack(x, members.labels, members.fold_of_row, settings, blend_weights)
    every = np.arange(len(members.labels))
    full, losses = stacker_of(x, members.labels, members.fold_of_row, every, settings, blend_weights)
    names = [m.name for m in models]
    info = {
        "method": "stack",
        "form": cfg.stack_form,
        "penalty": full.penalty,
        "penalty_per_fold": list(nested.penalty_per_fold),
        "penalty_cv_losses": {str(p): loss for p, loss in losses.items()},
        "start_weights": dict(zip(names, map(float, blend_weights(every)))),
        "class_weights": own_class_weights(full, names, list(data.classes)),
        "optimistic_score": multiclass_log_loss(members.labels, full.apply(members.oof)),
        "optimistic_because": ALL_ROWS_STACKER,
    }
    holdout = None if members.holdout is None else full.apply(members.holdout)
    return combined_result(
        data, folds, models, members, nested.proba, full.apply(members.test), holdout, info
    )


def blend_models(data: Dataset, folds: Folds, *models: ModelResult, cfg: BlendConfig) -> ModelResult:
    """Blend the models. OOF predictions and score are the nested ones (honest when every member
    is); the test predictions use weights fitted on all OOF rows, whose optimistic score on those
    same rows is kept beside it in ``info``. ``auto`` keeps the method whose weights fit better;
    ``stack`` is the level-2 stacker instead of simplex weights."""
    if cfg.method == "stack":
        return stack_models(data, folds, models, cfg)
    members = aligned_members(data, folds, models)
    labels, fold_of_row, stacked = members.labels, members.fold_of_row, members.oof
    methods = METHODS if cfg.method == "auto" else (cfg.method,)
    inputs = BlendInputs(stacked)
    full = fit_methods(methods, inputs, labels, cfg.temperature)
    method = better_fit(full, inputs, labels)
    fit = full[method]
    nested = nested_blend(methods, stacked, labels, fold_of_row, cfg.temperature)
    info = {
        "method": method,
        "method_per_fold": list(nested.method_per_fold),
        "weights": {m.name: float(w) for m, w in zip(models, fit.weights)},
        "temperature": fit.temperature,
        "nested_by_method": {m: multiclass_log_loss(labels, p) for m, p in nested.by_method.items()},
        "optimistic_score": multiclass_log_loss(labels, fit.apply(stacked)),
        "optimistic_because": ALL_ROWS_WEIGHTS,
        "optimistic_by_method": {m: multiclass_log_loss(labels, f.apply(stacked)) for m, f in full.items()},
    }
    holdout = None if members.holdout is None else fit.apply(members.holdout)
    return combined_result(data, folds, models, members, nested.proba, fit.apply(members.test), holdout, info)
