"""The XGBoost family's trainer: one multi:softprob booster per fold (and seed), on the CPU or a GPU."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xgboost as xgb

from models.devices import resolve_device
from models.training import FamilyTrainer
from pipeline.engine.parallel import worker_threads
from pipeline.validation.cv import ModelResult

if TYPE_CHECKING:
    from models.xgb.config import XgbConfig

SEED_STEP = 1000  # seed k of a fold trains with seed + k * SEED_STEP


def booster_params(cfg: XgbConfig, n_classes: int, seed: int) -> dict:
    """XGBoost's parameters for the section: softprob over ``n_classes`` (every class, whether or not
    the fit rows hold it), the hist tree method, on the configured device."""
    return {
        "objective": "multi:softprob",
        "num_class": n_classes,
        "eval_metric": "mlogloss",
        "tree_method": "hist",
        "device": resolve_device("xgb", cfg.device),
        "learning_rate": cfg.learning_rate,
        "max_depth": cfg.max_depth,
        "min_child_weight": cfg.min_child_weight,
        "subsample": cfg.subsample,
        "colsample_bytree": cfg.colsample_bytree,
        "reg_lambda": cfg.reg_lambda,
        "reg_alpha": cfg.reg_alpha,
        "max_bin": cfg.max_bin,
        "seed": seed,
        "verbosity": 0,
    }


class XgbFoldModel:
    """One fold's booster: ``xgb.train`` on the fit rows, stopping early on the held-out rows when
    there are any; predictions use the best iteration and always have ``n_classes`` columns."""

    def __init__(self, params: dict, num_boost_round: int, early_stopping_rounds: int, num_threads: int):
        self.params = params
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.num_threads = num_threads
        self.booster: xgb.Booster | None = None
        self.best_iteration = num_boost_round

    def fit(self, x_fit, y_fit, x_stop, y_stop) -> None:
        threads = self.num_threads or worker_threads(results_depend_on_threads=False)
        params = {**self.params, "nthread": threads}
        train = xgb.DMatrix(x_fit, label=y_fit, nthread=threads)
        evals, stopping = [], None
        if x_stop is not None and len(x_stop):
            evals, stopping = (
                [(xgb.DMatrix(x_stop, label=y_stop, nthread=threads), "stop")],
                self.early_stopping_rounds,
            )
        self.booster = xgb.train(
            params,
            train,
            self.num_boost_round,
            evals=evals,
            early_stopping_rounds=stopping,
            verbose_eval=False,
        )
        self.best_iteration = (
            int(self.booster.best_iteration) + 1 if stopping else int(self.booster.num_boosted_rounds())
        )
        self.booster.set_param({"device": "cpu"})  # predictions (and a cached model) need no GPU

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        matrix = xgb.DMatrix(x, nthread=self.num_threads or worker_threads(results_depend_on_threads=False))
        proba = self.booster.predict(matrix, iteration_range=(0, self.best_iteration))
        return proba.reshape(len(x), -1).astype(np.float64)


class XgbTrainer(FamilyTrainer):
    """XGBoost for the shared training: seeds stepped per booster, threads from the backend."""

    def fold_model(self, cfg: XgbConfig, n_classes, names, fold, seed_index, label) -> XgbFoldModel:
        params = booster_params(cfg, n_classes, cfg.seed + seed_index * SEED_STEP)
        return XgbFoldModel(params, cfg.num_boost_round, cfg.early_stopping_rounds, cfg.num_threads)

    def summary(self, result: ModelResult, cfg: XgbConfig) -> dict:
        return {
            "best_iterations": [model.best_iteration for model in result.fold_models],
            "device": result.fold_models[0].params["device"] if result.fold_models else cfg.device,
        }


TRAINER = XgbTrainer()
