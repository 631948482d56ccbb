"""Paired comparison of two results scored on the same rows and folds: is the difference real?

Two runs on the same folds are strongly correlated, so the noise of their difference is far smaller
than the fold-to-fold spread of either score. The difference of per-row log loss (B minus A;
negative: B is better) is summarised by its mean, its standard error, a 95 % interval from a paired
bootstrap and the per-fold means. The bootstrap resamples duplicate groups (copies count as one
object) within each class, so rare classes cannot vanish from a draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BOOTSTRAP_DRAWS = 1000
BOOTSTRAP_CHUNK = 50
LEVEL = 0.95
MIN_GROUPS = 30  # fewer objects than this: no verdict (a percentile interval is not to be trusted)


class MismatchError(ValueError):
    """The two results were not scored on the same rows and folds."""


@dataclass(frozen=True)
class PairedDifference:
    """B minus A in mean per-row log loss (negative: B is better)."""

    mean: float
    standard_error: float
    low: float
    high: float
    per_fold: tuple[float, ...]
    rows: int
    groups: int = 0

    def verdict(self, seed_spread: float = 0.0) -> str:
        """better / worse when the 95 % interval excludes 0 (and the difference exceeds the
        seed-to-seed spread, when one is known); otherwise within noise."""
        if self.groups < MIN_GROUPS:
            return "too few rows"
        if seed_spread and abs(self.mean) < seed_spread:
            return "within seed noise"
        if self.high < 0:
            return "better"
        if self.low > 0:
            return "worse"
        return "within noise"

    def describe(self) -> str:
        return f"{self.mean:+.4f} ± {self.standard_error:.4f} (95 % {self.low:+.4f} .. {self.high:+.4f})"


@dataclass(frozen=True)
class PairedRows:
    """Two results' per-row losses on the same rows, with each row's label, fold and group."""

    loss_a: np.ndarray
    loss_b: np.ndarray
    labels: np.ndarray
    fold_of_row: np.ndarray
    groups: np.ndarray

    def where(self, mask: np.ndarray) -> PairedRows:
        return PairedRows(
            self.loss_a[mask], self.loss_b[mask], self.labels[mask], self.fold_of_row[mask], self.groups[mask]
        )


def check_same_rows(index_a: pd.Index, index_b: pd.Index, folds_a, folds_b) -> None:
    """Refuse, in one line, results on different rows or folds."""
    if len(index_a) != len(index_b) or not index_a.sort_values().equals(index_b.sort_values()):
        raise MismatchError(
            f"the two results cover different rows ({len(index_a):,} vs {len(index_b):,} ids)"
        )
    if not np.array_equal(np.asarray(folds_a), np.asarray(folds_b)):
        raise MismatchError(
            "the two results were scored on different folds: a paired comparison needs the same"
        )


def group_sums(rows: PairedRows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per duplicate group: sum of differences, number of rows, class (of its first row)."""
    _, first, inverse = np.unique(rows.groups, return_index=True, return_inverse=True)
    sums = np.bincount(inverse, weights=rows.loss_b - rows.loss_a)
    return sums, np.bincount(inverse).astype(np.float64), rows.labels[first]


def bootstrap_means(
    sums: np.ndarray, counts: np.ndarray, classes: np.ndarray, draws: int, seed: int
) -> np.ndarray:
    """Means of ``draws`` resamples of the groups, each class's groups resampled within the class."""
    rng = np.random.default_rng(seed)
    total_sum = np.zeros(draws)
    total_count = np.zeros(draws)
    for cls in np.unique(classes):
        members = np.flatnonzero(classes == cls)
        for start in range(0, draws, BOOTSTRAP_CHUNK):
            size = min(BOOTSTRAP_CHUNK, draws - start)
            picks = members[rng.integers(0, len(members), (size, len(members)))]
            total_sum[start : start + size] += sums[picks].sum(axis=1)
            total_count[start : start + size] += counts[picks].sum(axis=1)
    return total_sum / total_count


def paired_difference(rows: PairedRows, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> PairedDifference:
    """Mean, standard error (over groups), bootstrap interval and per-fold means of B minus A."""
    if len(rows.loss_a) == 0:
        return PairedDifference(0.0, 0.0, 0.0, 0.0, (), 0, 0)
    diff = rows.loss_b - rows.loss_a
    sums, counts, classes = group_sums(rows)
    means = bootstrap_means(sums, counts, classes, draws, seed)
    tail = (1 - LEVEL) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    per_fold = tuple(float(diff[rows.fold_of_row == k].mean()) for k in np.unique(rows.fold_of_row))
    return PairedDifference(
        mean=float(diff.mean()),
        standard_error=float(means.std(ddof=1)) if draws > 1 else 0.0,
        low=float(low),
        high=float(high),
        per_fold=per_fold,
        rows=len(diff),
        groups=len(sums),
    )


def per_class_differences(rows: PairedRows, classes: list[str], **options) -> dict[str, PairedDifference]:
    """The paired difference restricted to each class's rows (classes without rows are left out)."""
    out = {}
    for code, name in enumerate(classes):
        mask = rows.labels == code
        if mask.any():
            out[name] = paired_difference(rows.where(mask), **options)
    return out
