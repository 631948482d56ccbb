"""The lgbm stage: LightGBM multiclass per fold, with early stopping, on the shared folds."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np

from pipeline.cv import ModelResult, StoppingPlan, cross_validate

if TYPE_CHECKING:
    from features.table import FeatureTable
    from pipeline.config import LgbmConfig
    from pipeline.data import Dataset
    from pipeline.folds import Folds


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


def train_lgbm(data: Dataset, features: FeatureTable, folds: Folds, cfg: LgbmConfig) -> ModelResult:
    """LightGBM on every fold: OOF for each train row, test averaged over the fold models."""
    models: list[LgbmFoldModel] = []

    def make_model(fold: int) -> LgbmFoldModel:
        models.append(
            LgbmFoldModel(lgbm_params(cfg, data.n_classes), cfg.num_boost_round, cfg.early_stopping_rounds)
        )
        return models[-1]

    plan = StoppingPlan(cfg.early_stopping, cfg.inner_share, seed=int(cfg.params.get("seed", 0)))
    result = cross_validate("lgbm", make_model, features.train, features.test, data, folds, plan)
    return dataclasses.replace(
        result, info={**result.info, "best_iterations": [m.best_iteration for m in models]}
    )
