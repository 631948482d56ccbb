"""The competition's metric: multi-class log loss."""

from __future__ import annotations

import numpy as np

EPSILON = 1e-15


def row_log_loss(labels: np.ndarray, proba: np.ndarray, eps: float = EPSILON) -> np.ndarray:
    """Each row's negative log probability of its true class; rows renormalised after clipping."""
    proba = np.clip(np.asarray(proba, dtype=np.float64), eps, 1.0)
    proba /= proba.sum(axis=1, keepdims=True)
    return -np.log(proba[np.arange(len(labels)), np.asarray(labels)])


def multiclass_log_loss(labels: np.ndarray, proba: np.ndarray, eps: float = EPSILON) -> float:
    """Mean negative log probability of the true class; rows clipped to [eps, 1], then renormalised (as
    scikit-learn did before 1.5; it now warns about rows not summing to one and scores them as given)."""
    return float(np.mean(row_log_loss(labels, proba, eps)))


def per_fold_log_loss(labels: np.ndarray, proba: np.ndarray, fold_of_row: np.ndarray) -> tuple[float, ...]:
    """Log loss of each fold's rows, in fold order."""
    return tuple(
        multiclass_log_loss(labels[fold_of_row == k], proba[fold_of_row == k]) for k in np.unique(fold_of_row)
    )
