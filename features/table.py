"""The features stage: the configured families side by side, for train and test alike.

Row-wise families are computed here once. Families fitted on data are fitted per fold (see
``features/fitted.py``): the table carries what to fit, and ``FeatureTable.fold_model`` wraps a
model so that its fold fits them on its own fit rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.families import FAMILIES
from features.fitted import Decomposition, FoldFeatures, FoldFitting, check_fitting
from pipeline.data.schema import MAGNITUDE_COLUMNS
from pipeline.engine.errors import ConfigError
from pipeline.validation.cv import ColumnSubset

if TYPE_CHECKING:
    from features.config import FeaturesConfig
    from pipeline.data.loading import Dataset


TRANSDUCTIVE = "SVD/ICA fitted on train+test rows, scored rows included (transductive)"


@dataclass(frozen=True)
class FeatureTable:
    """Model inputs: float32 frames indexed by id, same columns for train and test, and the
    families each fold fits on its own fit rows."""

    train: pd.DataFrame
    test: pd.DataFrame
    fitting: FoldFitting = field(default_factory=FoldFitting)
    optimism: tuple[str, ...] = ()
    """Why scores of models on this table may be optimistic (transductive families)."""
    holdout: pd.DataFrame | None = None
    """The reserved train rows (``[holdout]``), with the test rows' columns; predicted like test."""

    @property
    def predicted(self) -> pd.DataFrame:
        """The rows every fold model predicts besides its scored fold: test, then the holdout."""
        return self.test if self.holdout is None else pd.concat([self.test, self.holdout])

    @property
    def names(self) -> list[str]:
        return list(self.train.columns)

    def select(self, columns: tuple[str, ...]) -> FeatureTable:
        """The same rows with only ``columns`` (in that order); unknown names are an error."""
        missing = [name for name in columns if name not in self.train.columns]
        if missing:
            raise KeyError(f"features not in the table: {missing}")
        holdout = None if self.holdout is None else self.holdout[list(columns)]
        return dataclasses.replace(
            self, train=self.train[list(columns)], test=self.test[list(columns)], holdout=holdout
        )

    def fold_model(self, model, kept: tuple[str, ...] | None = None):
        """``model`` fed this table's columns (only ``kept`` ones, if given) plus the fold-fitted
        families, which it fits on its own fit rows."""
        if self.fitting.active:
            return FoldFeatures(model, self.fitting, self.names, None if kept is None else list(kept))
        if kept is None:
            return model
        return ColumnSubset(model, self.train.columns.get_indexer(list(kept)))

    def model_names(self, kept: tuple[str, ...] | None = None) -> list[str]:
        """The columns a model wrapped by ``fold_model`` sees, in order."""
        return [*(self.names if kept is None else kept), *self.fitting.added_names()]


def feature_frame(frame: pd.DataFrame, families: tuple[str, ...]) -> pd.DataFrame:
    """Apply each family to a raw frame and join the results as float32."""
    parts = [FAMILIES[name](frame) for name in families]
    joined = pd.concat(parts, axis=1).astype(np.float32)
    repeated = joined.columns[joined.columns.duplicated()].unique().tolist()
    if repeated:
        raise ConfigError(f"config: features.families give these columns twice: {repeated[:5]}")
    return joined


def transductive_decompositions(data: Dataset, cfg: FeaturesConfig, frames: list[pd.DataFrame]) -> list:
    """SVD/ICA fitted once on train + test magnitudes (label-free, but it has seen the test rows; never
    the holdout's), then applied to each of ``frames``."""
    magnitudes = [frame[list(MAGNITUDE_COLUMNS)].to_numpy(np.float64) for frame in (data.train, data.test)]
    both = np.vstack(magnitudes)
    parts: list[list[pd.DataFrame]] = [[] for _ in frames]
    for kind, n in (("svd", cfg.svd_components), ("ica", cfg.ica_components)):
        if n > 0:
            part = Decomposition(kind, n, cfg.seed).fit(both)
            names = [f"{kind}_{k}" for k in range(n)]
            for out, frame in zip(parts, frames):
                values = part.transform(frame[list(MAGNITUDE_COLUMNS)].to_numpy(np.float64))
                out.append(pd.DataFrame(values, index=frame.index, columns=names))
    return [pd.concat(out, axis=1).astype(np.float32) for out in parts]


def fold_fitting(cfg: FeaturesConfig) -> FoldFitting:
    """What each fold fits, from the config (decompositions only when they are fitted per fold)."""
    per_fold = cfg.decomposition_fit == "fold"
    return FoldFitting(
        outlier_clip=cfg.outlier_clip,
        outlier_drop=cfg.outlier_drop,
        svd_components=cfg.svd_components if per_fold else 0,
        ica_components=cfg.ica_components if per_fold else 0,
        fiber_stats=cfg.fiber_stats,
        seed=cfg.seed,
    )


def build_features(data: Dataset, cfg: FeaturesConfig) -> FeatureTable:
    """Feature table of the configured row-wise families, and what each fold fits on its own."""
    raw = [data.train, data.test] + ([] if data.holdout is None else [data.holdout])
    tables = [feature_frame(frame, cfg.families) for frame in raw]
    transductive = cfg.decomposition_fit == "train+test" and (cfg.svd_components or cfg.ica_components)
    if transductive:
        extras = transductive_decompositions(data, cfg, raw)
        tables = [pd.concat([table, extra], axis=1) for table, extra in zip(tables, extras)]
    train, test, holdout = tables[0], tables[1], tables[2] if len(tables) > 2 else None
    fitting = fold_fitting(cfg)
    try:
        check_fitting(fitting, list(train.columns))
    except ValueError as error:
        raise ConfigError(f"config: features: {error}") from None
    optimism = (TRANSDUCTIVE,) if transductive else ()
    return FeatureTable(train=train, test=test, fitting=fitting, optimism=optimism, holdout=holdout)
