"""Features fitted on data, fitted inside each fold on that fold's fit rows only.

``FoldFeatures`` wraps any fold model: on ``fit`` it learns outlier bounds, decompositions and
per-fiber statistics from the rows it is given to fit on (never the held-out fold, the early-stopping
rows or test), drops outlying fit rows if asked, and feeds the model the transformed matrix; on
``predict_proba`` it applies the same fitted transform. Held-out and test rows are never dropped.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import FastICA, TruncatedSVD

from pipeline.data.schema import MAGNITUDE_COLUMNS
from pipeline.validation.cv import WrapsModel

FIBER_COLUMN = "fiberID"
FIBER_REFERENCE = "modelMag_r"
DECOMPOSITION_CLIP = 0.001  # magnitudes are clipped to these fit-row quantiles before SVD/ICA


@dataclass(frozen=True)
class FoldFitting:
    """What to fit per fold (0 or False: off)."""

    outlier_clip: float = 0.0
    """Clip every feature to the fit rows' [q, 1 - q] quantiles."""
    outlier_drop: float = 0.0
    """Drop fit rows with any magnitude outside the fit rows' [q, 1 - q] quantiles."""
    svd_components: int = 0
    ica_components: int = 0
    fiber_stats: bool = False
    seed: int = 0

    @property
    def active(self) -> bool:
        return (
            bool(self.outlier_clip or self.outlier_drop or self.svd_components or self.ica_components)
            or self.fiber_stats
        )

    def added_names(self) -> list[str]:
        """Names of the columns the fitted families append, in order."""
        names = [f"svd_{k}" for k in range(self.svd_components)]
        names += [f"ica_{k}" for k in range(self.ica_components)]
        if self.fiber_stats:
            names += ["fiber_share", "fiber_mean_r", "fiber_std_r", "fiber_r_minus_mean"]
        return names


def quantile_bounds(x: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-column [q, 1 - q] quantiles (NaN ignored)."""
    low, high = np.nanquantile(x, [q, 1.0 - q], axis=0)
    return low, high


def rows_inside(x: np.ndarray, q: float) -> np.ndarray:
    """Mask of rows whose every column lies inside the [q, 1 - q] quantiles of these rows."""
    low, high = quantile_bounds(x, q)
    return np.all((x >= low) & (x <= high), axis=1)


class Decomposition:
    """TruncatedSVD or FastICA of the magnitudes, after clipping them to the fitting rows' quantiles."""

    def __init__(self, kind: str, components: int, seed: int):
        self.kind, self.components, self.seed = kind, components, seed

    def fit(self, magnitudes: np.ndarray) -> Decomposition:
        self.low, self.high = quantile_bounds(magnitudes, DECOMPOSITION_CLIP)
        clipped = np.clip(magnitudes, self.low, self.high).astype(np.float64)
        if self.kind == "svd":
            self.model = TruncatedSVD(self.components, random_state=self.seed)
        else:
            self.model = FastICA(
                self.components, whiten="unit-variance", random_state=self.seed, max_iter=400, tol=1e-3
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FastICA's convergence warning: components stay usable
            self.model.fit(clipped)
        return self

    def transform(self, magnitudes: np.ndarray) -> np.ndarray:
        return self.model.transform(np.clip(magnitudes, self.low, self.high).astype(np.float64))


class FiberStatistics:
    """Share of fit rows per fiberID and mean/std of their (clipped) model r magnitude."""

    def fit(self, fiber: np.ndarray, reference: np.ndarray) -> FiberStatistics:
        self.low, self.high = quantile_bounds(reference, DECOMPOSITION_CLIP)
        ref = np.clip(reference, self.low, self.high)
        slots = fiber_slot(fiber)
        count = np.bincount(slots, minlength=1002).astype(np.float64)
        total = np.bincount(slots, weights=ref, minlength=1002)
        squares = np.bincount(slots, weights=ref**2, minlength=1002)
        seen = count > 0
        global_mean = float(ref.mean())
        self.mean = np.where(seen, total / np.maximum(count, 1), global_mean)
        variance = np.where(seen, squares / np.maximum(count, 1) - self.mean**2, ref.var())
        self.std = np.sqrt(np.maximum(variance, 0.0))
        self.share = count / len(fiber)
        return self

    def transform(self, fiber: np.ndarray, reference: np.ndarray) -> np.ndarray:
        slots = fiber_slot(fiber)
        ref = np.clip(reference, self.low, self.high)
        mean = self.mean[slots]
        return np.column_stack([self.share[slots], mean, self.std[slots], ref - mean])


def fiber_slot(fiber: np.ndarray) -> np.ndarray:
    """fiberID 1..1000 as itself; anything else (NaN, out of range) in slot 1001."""
    values = np.nan_to_num(fiber, nan=-1.0)
    inside = (values >= 1) & (values <= 1000)
    return np.where(inside, values, 1001).astype(np.int64)


class FittedTransform:
    """The per-fold transform: clip, then append decompositions and fiber statistics, then keep columns."""

    def __init__(self, fitting: FoldFitting, names: list[str], kept: list[str] | None):
        self.fitting = fitting
        position = {name: i for i, name in enumerate(names)}
        self.magnitudes = [position[name] for name in MAGNITUDE_COLUMNS if name in position]
        self.fiber = position.get(FIBER_COLUMN)
        self.reference = position.get(FIBER_REFERENCE)
        n_added = len(fitting.added_names())
        base = list(range(len(names))) if kept is None else [position[name] for name in kept]
        self.columns = np.array(base + list(range(len(names), len(names) + n_added)), dtype=np.int64)
        self.parts: list = []

    def fit(self, x: np.ndarray) -> FittedTransform:
        f = self.fitting
        self.bounds = quantile_bounds(x, f.outlier_clip) if f.outlier_clip else None
        if self.bounds is not None and self.fiber is not None:  # fiberID is an identifier, not clipped
            self.bounds[0][self.fiber], self.bounds[1][self.fiber] = -np.inf, np.inf
        magnitudes = x[:, self.magnitudes]
        self.parts = [
            Decomposition(kind, n, f.seed).fit(magnitudes)
            for kind, n in (("svd", f.svd_components), ("ica", f.ica_components))
            if n > 0
        ]
        self.fiber_stats = (
            FiberStatistics().fit(x[:, self.fiber], x[:, self.reference]) if f.fiber_stats else None
        )
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        added = [part.transform(x[:, self.magnitudes]) for part in self.parts]
        if self.fiber_stats is not None:
            added.append(self.fiber_stats.transform(x[:, self.fiber], x[:, self.reference]))
        if self.bounds is not None:
            x = np.clip(x, *self.bounds)
        full = np.hstack([x, *added]).astype(np.float32) if added else x.astype(np.float32)
        return full[:, self.columns]


def check_fitting(fitting: FoldFitting, names: list[str]) -> None:
    """A clear error when a fitted family lacks the columns it is fitted on."""
    have = set(names)
    if (fitting.svd_components or fitting.ica_components or fitting.outlier_drop) and not set(
        MAGNITUDE_COLUMNS
    ) <= have:
        raise ValueError("svd/ica components and outlier_drop need the 'raw' feature family")
    if fitting.fiber_stats and not {FIBER_COLUMN, FIBER_REFERENCE} <= have:
        raise ValueError("fiber_stats needs the 'raw' and 'fiber_id' feature families")


class FoldFeatures(WrapsModel):
    """A fold model whose inputs gain the features fitted on the rows it is fitted on."""

    def __init__(self, model, fitting: FoldFitting, names: list[str], kept: list[str] | None = None):
        self.model, self.fitting, self.names, self.kept = model, fitting, names, kept
        self.transform: FittedTransform | None = None
        self.dropped_rows = 0

    def fit(self, x_fit, y_fit, x_stop, y_stop) -> None:
        if self.fitting.outlier_drop:
            magnitudes = [self.names.index(name) for name in MAGNITUDE_COLUMNS]
            keep = rows_inside(x_fit[:, magnitudes], self.fitting.outlier_drop)
            self.dropped_rows = int((~keep).sum())
            x_fit, y_fit = x_fit[keep], y_fit[keep]
        self.transform = FittedTransform(self.fitting, self.names, self.kept).fit(x_fit)
        x_stop = None if x_stop is None else self.transform(x_stop)
        self.model.fit(self.transform(x_fit), y_fit, x_stop, y_stop)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self.transform(x))
