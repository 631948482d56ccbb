"""The level-2 stacker: a multinomial logistic regression on the members' OOF log-probabilities that
starts from the geometric blend.

Inputs are each member's log-probabilities, centred per row. Two forms:
- ``per_class``: class c's logit is ``sum_m w[m, c] * log p_m(c) + b[c]``: a weight per member and
  class (the geometric blend has one per member);
- ``full``: class c's logit is a linear function of every member's log-probability of every class.
The L2 penalty pulls the weights towards the geometric blend's (fitted on the same rows), not
towards zero: a strong penalty gives the blend back, a weak one lets the confusable classes lean on
the member that separates them best.

Scored nested, like the simplex blend: for each outer fold k the penalty is chosen by leave-one-fold-
out CV over the other folds' rows only, and the stacker fitted on those rows predicts fold k; nothing
of fold k's rows reaches its stacked prediction. The submission's stacker is chosen and fitted on
all OOF rows and applied to the members' test (and holdout) predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from pipeline.validation.metrics import EPSILON, multiclass_log_loss

FORMS = ("per_class", "full")


def centred_log_proba(stacked: np.ndarray) -> np.ndarray:
    """(models, rows, classes) probabilities -> (rows, models, classes) log-probabilities, each
    model's centred per row (the softmax does not see a per-row constant)."""
    log_p = np.log(np.clip(stacked, EPSILON, 1.0))
    log_p -= log_p.mean(axis=2, keepdims=True)
    return np.ascontiguousarray(log_p.transpose(1, 0, 2))


@dataclass
class StackerFit:
    """One fitted stacker: its form, penalty, weights and class offsets."""

    form: str
    penalty: float
    weights: np.ndarray
    """per_class: (models, classes); full: (models * classes, classes)."""
    offsets: np.ndarray

    def logits(self, x: np.ndarray) -> np.ndarray:
        """``x``: (rows, models, classes) centred log-probabilities."""
        if self.form == "per_class":
            return np.einsum("rmc,mc->rc", x, self.weights) + self.offsets
        return x.reshape(len(x), -1) @ self.weights + self.offsets

    def log_proba(self, x: np.ndarray) -> np.ndarray:
        logits = self.logits(x)
        logits -= logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))

    def apply(self, stacked: np.ndarray) -> np.ndarray:
        """Stacked probabilities (rows, classes) of members' probabilities (models, rows, classes)."""
        return np.exp(self.log_proba(centred_log_proba(stacked)))

    def own_class_weights(self) -> np.ndarray:
        """(models, classes): each member's weight on its own log-probability of each class."""
        if self.form == "per_class":
            return self.weights
        n_classes = len(self.offsets)
        n_models = self.weights.shape[0] // n_classes
        rows = np.arange(n_models)[:, None] * n_classes + np.arange(n_classes)[None, :]
        return self.weights[rows, np.arange(n_classes)[None, :]]


def blend_start(form: str, blend_weights: np.ndarray, n_classes: int) -> np.ndarray:
    """The geometric blend (temperature 1) as the stacker's weights: where the penalty pulls to."""
    if form == "per_class":
        return np.repeat(blend_weights[:, None], n_classes, axis=1)
    start = np.zeros((len(blend_weights) * n_classes, n_classes))
    for m, w in enumerate(blend_weights):
        start[m * n_classes + np.arange(n_classes), np.arange(n_classes)] = w
    return start


def fit_stacker(
    x: np.ndarray, labels: np.ndarray, form: str, penalty: float, start: np.ndarray,
    init: StackerFit | None = None, max_iter: int = 200,
) -> StackerFit:  # fmt: skip
    """Mean log loss + penalty / 2 * |weights - start|^2 by L-BFGS (from ``init`` when given); a class
    the rows lack keeps its start weights and a low offset."""
    n_rows, _, n_classes = x.shape
    onehot = np.zeros((n_rows, n_classes))
    onehot[np.arange(n_rows), labels] = 1.0
    shape = start.shape
    flat_x = x.reshape(n_rows, -1)

    def unpack(theta):
        return theta[: start.size].reshape(shape), theta[start.size :]

    def objective(theta):
        weights, offsets = unpack(theta)
        fit = StackerFit(form, penalty, weights, offsets)
        log_p = fit.log_proba(x)
        loss = -float((log_p * onehot).sum()) / n_rows
        residual = (np.exp(log_p) - onehot) / n_rows  # d loss / d logits
        if form == "per_class":
            grad_w = np.einsum("rmc,rc->mc", x, residual)
        else:
            grad_w = flat_x.T @ residual
        delta = weights - start
        loss += 0.5 * penalty * float((delta**2).sum())
        grad = np.concatenate([(grad_w + penalty * delta).ravel(), residual.sum(axis=0)])
        return loss, grad

    theta0 = (
        np.concatenate([start.ravel(), np.zeros(n_classes)])
        if init is None
        else np.concatenate([init.weights.ravel(), init.offsets])
    )
    result = minimize(objective, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    weights, offsets = unpack(result.x)
    absent = np.setdiff1d(np.arange(n_classes), labels)
    if len(absent):
        offsets = offsets.copy()
        offsets[absent] = np.log(EPSILON) + offsets.min()
    return StackerFit(form, penalty, weights, offsets)


@dataclass(frozen=True)
class StackSettings:
    """The stacker's form, the penalties its CV chooses from and its L-BFGS iterations per fit."""

    form: str
    penalties: tuple[float, ...]
    max_iter: int


def penalty_path(
    x: np.ndarray, labels: np.ndarray, settings: StackSettings, start: np.ndarray
) -> list[StackerFit]:
    """One fit per penalty, strongest first, each starting from the previous one (warm start)."""
    fits, previous = [], None
    for penalty in sorted(settings.penalties, reverse=True):
        previous = fit_stacker(x, labels, settings.form, penalty, start, previous, settings.max_iter)
        fits.append(previous)
    return fits


def choose_penalty(
    x: np.ndarray, labels: np.ndarray, fold_of_row: np.ndarray, positions: np.ndarray,
    settings: StackSettings, blend_weights,
) -> tuple[float, dict[float, float]]:  # fmt: skip
    """The penalty with the lowest leave-one-fold-out log loss over the folds of the rows ``positions``;
    each inner fit is pulled towards the geometric blend fitted on its own rows
    (``blend_weights(positions)``)."""
    n_classes = x.shape[2]
    proba = {penalty: np.empty((len(labels), n_classes)) for penalty in settings.penalties}
    for fold in np.unique(fold_of_row[positions]):
        fit_rows = positions[fold_of_row[positions] != fold]
        held = positions[fold_of_row[positions] == fold]
        start = blend_start(settings.form, blend_weights(fit_rows), n_classes)
        for fit in penalty_path(x[fit_rows], labels[fit_rows], settings, start):
            proba[fit.penalty][held] = np.exp(fit.log_proba(x[held]))
    losses = {penalty: multiclass_log_loss(labels[positions], p[positions]) for penalty, p in proba.items()}
    return min(losses, key=losses.get), losses


def stacker_of(
    x: np.ndarray, labels: np.ndarray, fold_of_row: np.ndarray, positions: np.ndarray,
    settings: StackSettings, blend_weights,
) -> tuple[StackerFit, dict[float, float]]:  # fmt: skip
    """The stacker of the rows ``positions``: its penalty chosen by their leave-one-fold-out CV, then
    fitted on all of them (with the penalties tried and their CV log loss)."""
    penalty, losses = choose_penalty(x, labels, fold_of_row, positions, settings, blend_weights)
    start = blend_start(settings.form, blend_weights(positions), x.shape[2])
    fit = fit_stacker(
        x[positions], labels[positions], settings.form, penalty, start, max_iter=settings.max_iter
    )
    return fit, losses


@dataclass(frozen=True)
class NestedStack:
    """Each outer fold's rows stacked by a stacker chosen and fitted on the other folds only."""

    proba: np.ndarray
    penalty_per_fold: tuple[float, ...]


def nested_stack(
    x: np.ndarray, labels: np.ndarray, fold_of_row: np.ndarray, settings: StackSettings, blend_weights
) -> NestedStack:
    """For each outer fold: the stacker of the other folds' rows (``stacker_of``), applied to the fold."""
    proba, chosen = np.empty((len(labels), x.shape[2])), []
    for fold in np.unique(fold_of_row):
        held = fold_of_row == fold
        fit, _ = stacker_of(x, labels, fold_of_row, np.flatnonzero(~held), settings, blend_weights)
        chosen.append(fit.penalty)
        proba[held] = np.exp(fit.log_proba(x[held]))
    return NestedStack(proba, tuple(chosen))


def own_class_weights(fit: StackerFit, members: list[str], classes: list[str]) -> dict[str, dict[str, float]]:
    """Per class, each member's weight on its own log-probability of that class: {class: {member: w}}."""
    weights = fit.own_class_weights()
    return {cls: {m: float(weights[i, k]) for i, m in enumerate(members)} for k, cls in enumerate(classes)}
