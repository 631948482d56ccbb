"""The folds stage: one stratified K-fold split, shared by every model."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.config import FoldsConfig
    from pipeline.data import Dataset


@dataclass(frozen=True)
class Folds:
    """The fold number of every train row, indexed by id."""

    fold_of_row: pd.Series

    @property
    def n_splits(self) -> int:
        return int(self.fold_of_row.max()) + 1

    @property
    def signature(self) -> str:
        """A hash of the assignment: models blended together must share it."""
        digest = hashlib.sha256(self.fold_of_row.index.to_numpy().tobytes())
        digest.update(self.fold_of_row.to_numpy().tobytes())
        return digest.hexdigest()[:16]


def make_folds(data: Dataset, cfg: FoldsConfig) -> Folds:
    """Stratified K-fold; a class with fewer rows than folds lands in as many folds as it has rows."""
    if not 2 <= cfg.n_splits <= len(data.labels):
        raise ConfigError(
            f"config: folds.n_splits = {cfg.n_splits} must be between 2 and the {len(data.labels)} train rows"
        )
    splitter = StratifiedKFold(n_splits=cfg.n_splits, shuffle=True, random_state=cfg.seed)
    fold_of_row = np.full(len(data.labels), -1, dtype=np.int8)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        for fold, (_, valid) in enumerate(splitter.split(np.zeros(len(data.labels)), data.labels.to_numpy())):
            fold_of_row[valid] = fold
    return Folds(fold_of_row=pd.Series(fold_of_row, index=data.labels.index, name="fold"))
