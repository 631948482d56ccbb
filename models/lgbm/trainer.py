"""The LightGBM family's trainer: a multiclass booster per fold (gbdt, dart or goss), averaged over seeds."""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np

from models.lgbm.permutation import PermutationPredictor
from models.training import FamilyTrainer
from pipeline.engine.parallel import worker_threads
from pipeline.validation.cv import ModelResult, StoppingPlan

if TYPE_CHECKING:
    from models.lgbm.config import LgbmConfig

SEED_STEP = 1000  # seed k of a fold trains with seed + k * SEED_STEP


class LgbmFoldModel:
    """One fold's booster: ``lgb.train`` on the fit rows, stopping early on the held-out rows except
    in dart mode (fixed rounds); always ``n_classes`` output columns."""

    def __init__(self, params: dict, num_boost_round: int, early_stopping_rounds: int):
        self.params = params
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.booster: lgb.Booster | None = None

    @property
    def stops_early(self) -> bool:
        """Dart rescales earlier trees as it adds new ones, so a 'best iteration' is not a model."""
        return self.early_stopping_rounds > 0 and self.params.get("boosting") != "dart"

    def fit(
        self, x_fit: np.ndarray, y_fit: np.ndarray, x_stop: np.ndarray | None, y_stop: np.ndarray | None
    ) -> None:
        params = dict(self.params)
        if not params.get("num_threads"):
            params["num_threads"] = worker_threads(results_depend_on_threads=False)
        train_set = lgb.Dataset(x_fit, y_fit, free_raw_data=True)
        valid_sets, callbacks = [], []
        if self.stops_early and x_stop is not None and len(x_stop):
            valid_sets = [lgb.Dataset(x_stop, y_stop, reference=train_set)]
            callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
        self.booster = lgb.train(
            params, train_set, self.num_boost_round, valid_sets=valid_sets, callbacks=callbacks
        )

    @property
    def best_iteration(self) -> int:
        return self.booster.best_iteration or self.booster.current_iteration()

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.booster.predict(x, num_iteration=self.best_iteration)

    def for_permutations(self) -> PermutationPredictor:
        """Capability: predictions for permutation importance that re-evaluate only the trees the
        shuffled column reaches (``models/lgbm/permutation.py``); the same probabilities."""
        return PermutationPredictor(self.booster, self.best_iteration)


MODE_PARAMS = {
    "gbdt": {"boosting": "gbdt"},
    "dart": {"boosting": "dart"},
    "goss": {"boosting": "gbdt", "data_sample_strategy": "goss"},
}
BAGGING_KEYS = ("bagging_fraction", "bagging_freq", "subsample", "subsample_freq")


def lgbm_params(cfg: LgbmConfig, n_classes: int) -> dict:
    """The configured LightGBM parameters for the mode, with the multiclass objective fixed to our
    classes (goss samples rows by gradient, so row bagging is switched off)."""
    params = {"verbose": -1, **cfg.params, **MODE_PARAMS[cfg.mode]}
    if cfg.mode == "goss":
        params = {k: v for k, v in params.items() if k not in BAGGING_KEYS}
    return {**params, "objective": "multiclass", "num_class": n_classes}


def new_fold_model(cfg: LgbmConfig, n_classes: int, seed_index: int = 0) -> LgbmFoldModel:
    params = lgbm_params(cfg, n_classes)
    if seed_index:
        params["seed"] = int(params.get("seed", 0)) + seed_index * SEED_STEP
    return LgbmFoldModel(params, cfg.num_boost_round, cfg.early_stopping_rounds)


def stopping_plan(cfg: LgbmConfig) -> StoppingPlan:
    """Rows held out from each fold's fitting (``lgbm.early_stopping``). Dart holds them out too but
    never stops on them (fixed rounds); they remain the rows importance is measured on."""
    return StoppingPlan(cfg.early_stopping, cfg.inner_share, seed=int(cfg.params.get("seed", 0)))


def with_params(cfg: LgbmConfig, params: dict) -> LgbmConfig:
    """The ``lgbm`` section with these LightGBM parameters on top (a trial's, or the tuned ones),
    each under its main name, so a config that names one by an alias cannot override them."""
    return dataclasses.replace(cfg, params={**canonical_params(cfg.params), **canonical_params(params)})


def canonical_params(params: dict) -> dict:
    """Each LightGBM parameter under its main name (``min_child_samples`` -> ``min_data_in_leaf``),
    with the value LightGBM itself uses when several of its names are given: the main name's, else
    the first alias in LightGBM's own order."""
    out = {}
    for key in params:
        main = main_name(key)
        if main not in out:
            out[main] = params[next(n for n in _names_of().get(main, [main]) if n in params)]
    return out


def main_name(name: str) -> str:
    """LightGBM's main name of a parameter given by any of its names (unknown names as they are)."""
    return _main_of().get(name, name)


@functools.lru_cache(maxsize=1)
def _names_of() -> dict[str, list[str]]:
    """Main name -> [main name, *aliases], in the order LightGBM resolves them."""
    return lgb.basic._ConfigAliases._get_all_param_aliases()


@functools.lru_cache(maxsize=1)
def _main_of() -> dict[str, str]:
    return {alias: main for main, names in _names_of().items() for alias in names}


# LightGBM's own values of the parameters a config may leave unset (a study's first trial starts from them)
LIGHTGBM_DEFAULTS = {
    "learning_rate": 0.1,
    "num_leaves": 31,
    "max_depth": -1,
    "min_data_in_leaf": 20,
    "min_sum_hessian_in_leaf": 1e-3,
    "feature_fraction": 1.0,
    "bagging_fraction": 1.0,
    "lambda_l1": 0.0,
    "lambda_l2": 0.0,
}


class LgbmTrainer(FamilyTrainer):
    """LightGBM for the shared training: parameters by their main names, seeds stepped per booster."""

    def fold_model(self, cfg, n_classes, names, fold, seed_index, label) -> LgbmFoldModel:
        return new_fold_model(cfg, n_classes, seed_index)

    def stopping_plan(self, cfg: LgbmConfig) -> StoppingPlan:
        return stopping_plan(cfg)

    def with_params(self, cfg: LgbmConfig, params: dict) -> LgbmConfig:
        return with_params(cfg, params)

    def own_settings(self, cfg: LgbmConfig) -> dict:
        """LightGBM parameters under their main names over LightGBM's defaults; a depth without limit
        (max_depth <= 0) as infinitely deep, so a search space moves it to its deepest."""
        own = {**LIGHTGBM_DEFAULTS, **canonical_params(cfg.params)}
        if own.get("max_depth", 0) <= 0:
            own["max_depth"] = float("inf")
        return own

    def canonical_name(self, name: str) -> str:
        return main_name(name)  # a search space may name a parameter by an alias

    def summary(self, result: ModelResult, cfg: LgbmConfig) -> dict:
        return {"mode": cfg.mode, "best_iterations": [model.best_iteration for model in result.fold_models]}


TRAINER = LgbmTrainer()
