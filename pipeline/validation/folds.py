"""The folds stage: one stratified K-fold split, shared by every model, that keeps duplicates together.

Rows with identical photometry (the 20 magnitudes; fiberID may differ: the same object seen on
another fibre) form a duplicate group. With ``group_duplicates`` (the default) a group never sits on
both sides of a split: not across outer folds, and not across any inner split (early stopping,
importance rows), which take the groups from here.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.data.schema import MAGNITUDE_COLUMNS
from pipeline.engine.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.data.loading import Dataset
    from pipeline.validation.config import FoldsConfig


@dataclass(frozen=True)
class DuplicateCount:
    """How much of the train set is duplicated photometry."""

    groups: int = 0
    """Groups of two or more rows with the same 20 magnitudes."""
    rows: int = 0
    """Rows in those groups."""
    conflicting_groups: int = 0
    """Groups whose copies carry different labels."""
    kept_together: bool = True
    """Whether every split keeps a group on one side."""

    def describe(self) -> str:
        if not self.groups:
            return "no duplicated photometry in train"
        where = "each kept within one fold" if self.kept_together else "NOT kept together (optimistic)"
        return (
            f"{self.groups:,} groups of duplicated photometry ({self.rows:,} rows, "
            f"{self.conflicting_groups:,} with conflicting labels), {where}"
        )


@dataclass(frozen=True)
class Folds:
    """The fold number of every train row and the group every split keeps whole, indexed by id."""

    fold_of_row: pd.Series
    group_of_row: pd.Series | None = None
    """Rows sharing a value are never split apart (None: every row is its own group)."""
    duplicates: DuplicateCount = DuplicateCount()

    @property
    def n_splits(self) -> int:
        return int(self.fold_of_row.max()) + 1

    @property
    def signature(self) -> str:
        """A hash of the assignment: models blended together must share it."""
        digest = hashlib.sha256(self.fold_of_row.index.to_numpy().tobytes())
        digest.update(self.fold_of_row.to_numpy().tobytes())
        return digest.hexdigest()[:16]

    def groups(self, index: pd.Index) -> np.ndarray:
        """The group of each row of ``index`` (its position when rows are not grouped)."""
        if self.group_of_row is None:
            return np.arange(len(index))
        return self.group_of_row.loc[index].to_numpy()

    @property
    def optimism(self) -> tuple[str, ...]:
        """Why scores on these folds may be optimistic (empty: they are not)."""
        if self.duplicates.groups and not self.duplicates.kept_together:
            return ("duplicated rows on both sides of a fold (folds.group_duplicates = false)",)
        return ()


def duplicate_groups(train: pd.DataFrame) -> np.ndarray:
    """A group number per row; rows with the same 20 magnitudes share one (numbered by first row)."""
    columns = list(MAGNITUDE_COLUMNS)
    return train[columns].groupby(columns, sort=False).ngroup().to_numpy()


def count_duplicates(groups: np.ndarray, labels: np.ndarray, kept_together: bool) -> DuplicateCount:
    """Groups of two or more rows, their rows, and those whose labels disagree."""
    sizes = np.bincount(groups)
    frame = pd.DataFrame({"group": groups, "label": labels})
    labels_per_group = frame.groupby("group")["label"].nunique().to_numpy()
    return DuplicateCount(
        groups=int((sizes > 1).sum()),
        rows=int(sizes[sizes > 1].sum()),
        conflicting_groups=int((labels_per_group > 1).sum()),
        kept_together=kept_together,
    )


def group_representatives(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each group in group order, each row's index into that order)."""
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    return first, inverse


def stratified_folds(labels: np.ndarray, n_splits: int, seed: int) -> np.ndarray:
    """Stratified K-fold of the rows; a class with fewer rows than folds lands in as many folds."""
    from sklearn.model_selection import StratifiedKFold  # here: loading cached folds needs no sklearn

    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    fold_of_row = np.full(len(labels), -1, dtype=np.int8)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        try:
            for fold, (_, valid) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
                fold_of_row[valid] = fold
        except ValueError as error:  # every class has fewer rows than folds
            raise ConfigError(f"config: folds.n_splits = {n_splits}: {error}") from None
    return fold_of_row


def keep_groups_together(fold_of_row: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Move every row of a duplicate group to its first row's fold; each move is paid back by a
    single (ungrouped) row of the same class moving the other way, so class counts per fold stay
    those of the stratified split whenever such a row exists."""
    first, inverse = group_representatives(groups)
    grouped = np.bincount(inverse)[inverse] > 1
    target = fold_of_row[first][inverse]
    singles = np.flatnonzero(~grouped)
    pools = {
        key: list(rows) for key, rows in pd.Series(singles).groupby([labels[singles], fold_of_row[singles]])
    }
    out = fold_of_row.copy()
    for row in np.flatnonzero(grouped & (fold_of_row != target)):
        out[row] = target[row]
        pool = pools.get((labels[row], target[row]))
        if pool:
            out[pool.pop()] = fold_of_row[row]
    return out


def make_folds(data: Dataset, cfg: FoldsConfig) -> Folds:
    """Stratified K-fold in which, with ``group_duplicates``, every duplicate group lies in one fold."""
    labels = data.labels.to_numpy()
    if not 2 <= cfg.n_splits <= len(labels):
        raise ConfigError(
            f"config: folds.n_splits = {cfg.n_splits} must be between 2 and the {len(labels)} train rows"
        )
    found = duplicate_groups(data.train.loc[data.labels.index])
    fold_of_row = stratified_folds(labels, cfg.n_splits, cfg.seed)
    groups = found if cfg.group_duplicates else np.arange(len(labels))
    if cfg.group_duplicates:
        fold_of_row = keep_groups_together(fold_of_row, labels, groups)
    if len(np.unique(fold_of_row)) < cfg.n_splits:
        raise ConfigError(
            f"config: folds.n_splits = {cfg.n_splits}: too few distinct rows to fill every fold"
        )
    index = data.labels.index
    return Folds(
        fold_of_row=pd.Series(fold_of_row, index=index, name="fold"),
        group_of_row=pd.Series(groups, index=index, name="group"),
        duplicates=count_duplicates(found, labels, kept_together=cfg.group_duplicates),
    )
