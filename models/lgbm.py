"""The lgbm stage: LightGBM multiclass per fold, with early stopping, on the shared folds."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np

from pipeline.cv import ColumnSubset, ModelResult, StoppingPlan, cross_validate

if TYPE_CHECKING:
    from features.table import FeatureTable
    from pipeline.config import LgbmConfig
    from pipeline.data import Dataset
    from pipeline.folds import Folds
    from pipeline.importance import Selection


class LgbmFoldModel:
    """One fold's booster: ``lgb.train`` with early stopping; always ``n_classes`` output columns."""

    def __init__(self, params: dict, num_boost_round: int, early_stopping_rounds: int):
        self.params = params
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.booster: lgb.Booster | None = None

    def fit(
        self, x_fit: np.ndarray, y_fit: np.ndarray, x_stop: np.ndarray | None, y_stop: np.ndarray | None
    ) -> None:
        train_set = lgb.Dataset(x_fit, y_fit, free_raw_data=True)
        valid_sets, callbacks = [], []
        if self.early_stopping_rounds > 0 and x_stop is not None and len(x_stop):
            valid_sets = [lgb.Dataset(x_stop, y_stop, reference=train_set)]
            callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
        self.booster = lgb.train(
            self.params, train_set, self.num_boost_round, valid_sets=valid_sets, callbacks=callbacks
        )

    @property
    def best_iteration(self) -> int:
        return self.booster.best_iteration or self.booster.current_iteration()

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.booster.predict(x, num_iteration=self.best_iteration)


def lgbm_params(cfg: LgbmConfig, n_classes: int) -> dict:
    """The configured LightGBM parameters with the multiclass objective fixed to our classes."""
    return {"verbose": -1, **cfg.params, "objective": "multiclass", "num_class": n_classes}


def new_fold_model(cfg: LgbmConfig, n_classes: int) -> LgbmFoldModel:
    return LgbmFoldModel(lgbm_params(cfg, n_classes), cfg.num_boost_round, cfg.early_stopping_rounds)


def stopping_plan(cfg: LgbmConfig) -> StoppingPlan:
    return StoppingPlan(cfg.early_stopping, cfg.inner_share, seed=int(cfg.params.get("seed", 0)))


def train_lgbm(
    data: Dataset, features: FeatureTable, folds: Folds, cfg: LgbmConfig, name: str = "lgbm"
) -> ModelResult:
    """LightGBM on every fold: OOF for each train row, test averaged over the fold models."""

    def make_model(fold: int) -> LgbmFoldModel:
        return new_fold_model(cfg, data.n_classes)

    result = cross_validate(name, make_model, features.train, features.test, data, folds, stopping_plan(cfg))
    best = [model.best_iteration for model in result.fold_models]
    return dataclasses.replace(
        result, info={**result.info, "best_iterations": best, "features": features.names}
    )


def train_lgbm_pruned(
    data: Dataset, features: FeatureTable, folds: Folds, selection: Selection, cfg: LgbmConfig
) -> ModelResult:
    """LightGBM with the ``lgbm`` settings on the features the selection kept."""
    return train_lgbm(data, features.select(selection.kept), folds, cfg, name="lgbm_pruned")


def train_lgbm_pruned_nested(
    data: Dataset, features: FeatureTable, folds: Folds, selection: Selection, cfg: LgbmConfig
) -> ModelResult:
    """The honest check of pruning: fold k trains on the features kept by importances of the other
    folds only, so its score never saw importances measured on its own rows."""
    if len(selection.kept_per_fold) != folds.n_splits:
        raise ValueError("the selection has no per-fold kept lists for these folds")
    columns = [features.train.columns.get_indexer(kept) for kept in selection.kept_per_fold]

    def make_model(fold: int) -> ColumnSubset:
        return ColumnSubset(new_fold_model(cfg, data.n_classes), columns[fold])

    name, plan = "lgbm_pruned_nested", stopping_plan(cfg)
    result = cross_validate(name, make_model, features.train, features.test, data, folds, plan)
    kept = [len(kept) for kept in selection.kept_per_fold]
    return dataclasses.replace(result, info={**result.info, "features_per_fold": kept})
