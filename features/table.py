"""The features stage: the configured families side by side, for train and test alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.families import FAMILIES

if TYPE_CHECKING:
    from pipeline.config import FeaturesConfig
    from pipeline.data import Dataset


@dataclass(frozen=True)
class FeatureTable:
    """Model inputs: float32 frames indexed by id, same columns for train and test."""

    train: pd.DataFrame
    test: pd.DataFrame

    @property
    def names(self) -> list[str]:
        return list(self.train.columns)

    def select(self, columns: tuple[str, ...]) -> FeatureTable:
        """The same rows with only ``columns`` (in that order); unknown names are an error."""
        missing = [name for name in columns if name not in self.train.columns]
        if missing:
            raise KeyError(f"features not in the table: {missing}")
        return FeatureTable(train=self.train[list(columns)], test=self.test[list(columns)])


def feature_frame(frame: pd.DataFrame, families: tuple[str, ...]) -> pd.DataFrame:
    """Apply each family to a raw frame and join the results as float32."""
    parts = [FAMILIES[name](frame) for name in families]
    return pd.concat(parts, axis=1).astype(np.float32)


def build_features(data: Dataset, cfg: FeaturesConfig) -> FeatureTable:
    """Feature table of the configured families (row-wise, so nothing is fitted)."""
    return FeatureTable(
        train=feature_frame(data.train, cfg.families), test=feature_frame(data.test, cfg.families)
    )
