"""What the MLP sees: numeric features clipped and scaled per fold, fiber slots, oversampled rows."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import MinMaxScaler, QuantileTransformer, RobustScaler, StandardScaler

FIBER_SLOTS = 1001
"""Embedding rows: fiberID 1..1000 own a row each; row 0 takes any fiberID outside that range."""


SMOOTH_CLIP = 3.0


class SmoothClippedRobustScaler(RobustScaler):
    """RealMLP's input scaling (Holzmüller et al., 2024): robust scaling (median, interquartile range),
    then a smooth clip x / sqrt(1 + (x / 3)^2) that keeps outliers within about ±3."""

    def transform(self, x):
        scaled = super().transform(x)
        return scaled / np.sqrt(1.0 + (scaled / SMOOTH_CLIP) ** 2)


def make_scaler(scaling: str, n_rows: int, seed: int = 0):
    """A fresh scikit-learn scaler for ``scaling`` (fitted later on ``n_rows`` rows), or None for ``none``."""
    scalers = {
        "none": lambda: None,
        "standard": StandardScaler,
        "minmax": MinMaxScaler,
        "robust": RobustScaler,
        "robust_smooth": SmoothClippedRobustScaler,
        "quantile": lambda: QuantileTransformer(
            n_quantiles=min(1000, n_rows), output_distribution="normal", subsample=100_000, random_state=seed
        ),
    }
    return scalers[scaling]()


class InputScaler:
    """Clip each column to quantiles of the rows it is fitted on, then scale them.

    The clip keeps wild magnitudes (-5,310,802 in Dacon's train) from dominating a scaler's
    statistics or reaching the network as huge inputs; test rows are clipped to the same bounds.
    """

    def __init__(self, scaling: str, clip_quantile: float, seed: int = 0):
        self.scaling = scaling
        self.clip_quantile = clip_quantile
        self.seed = seed

    def fit(self, x: np.ndarray) -> InputScaler:
        x = np.asarray(x, dtype=np.float64)
        self.low_, self.high_ = np.quantile(x, [self.clip_quantile, 1.0 - self.clip_quantile], axis=0)
        self.scaler_ = make_scaler(self.scaling, len(x), self.seed)
        if self.scaler_ is not None:
            self.scaler_.fit(self._clip(x))
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        clipped = self._clip(np.asarray(x, dtype=np.float64))
        scaled = clipped if self.scaler_ is None else self.scaler_.transform(clipped)
        return np.nan_to_num(scaled).astype(np.float32)

    def _clip(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, self.low_, self.high_)


def fiber_slots(fiber_id: np.ndarray) -> np.ndarray:
    """Embedding row of each fiberID (0 for a value outside 1..1000 or not an integer)."""
    fiber_id = np.asarray(fiber_id, dtype=np.float64)
    whole = np.isfinite(fiber_id) & (fiber_id == np.round(fiber_id))
    inside = whole & (fiber_id >= 1) & (fiber_id < FIBER_SLOTS)
    return np.where(inside, fiber_id, 0).astype(np.int64)


def oversample_rows(labels: np.ndarray, min_count: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of every row, plus duplicates drawn from each rarer class up to ``min_count`` rows.

    Give it the fit rows' labels only: duplicates are drawn from the rows it sees, so validation
    rows can never enter training this way.
    """
    positions = [np.arange(len(labels))]
    classes, counts = np.unique(labels, return_counts=True)
    for cls, count in zip(classes, counts):
        if count < min_count:
            members = np.flatnonzero(labels == cls)
            positions.append(rng.choice(members, size=min_count - count, replace=True))
    return np.concatenate(positions)


def class_weights(labels: np.ndarray, n_classes: int, rule: str) -> np.ndarray | None:
    """Loss weight per class: ``balanced`` is n / (k * count), ``sqrt`` its square root, ``none`` None.

    Weights are scaled so that the mean weight over the rows is 1; an absent class gets weight 1.
    """
    if rule == "none":
        return None
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    if rule == "sqrt":
        weights = np.sqrt(weights)
    weights /= (weights[labels]).mean()
    return weights


def quantile_bins(x: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """Bin edges of each column at its quantiles (piecewise-linear embeddings), from the rows given
    (a fold's fit rows). Repeated edges merge; a column with one value gets one bin around it."""
    edges = np.quantile(np.asarray(x, dtype=np.float64), np.linspace(0.0, 1.0, n_bins + 1), axis=0)
    bins = []
    for column in edges.T.astype(np.float32):  # the embedding's precision: edges equal there merge
        unique = np.unique(column)
        bins.append(unique if len(unique) >= 2 else np.array([unique[0] - 0.5, unique[0] + 0.5], np.float32))
    return bins
