"""The lgbm stage: LightGBM multiclass per fold (gbdt, dart or goss), averaged over seeds."""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Callable

import lightgbm as lgb
import numpy as np

from pipeline.cv import TUNED_ON_THESE_FOLDS, ModelResult, StoppingPlan, cross_validate
from pipeline.parallel import worker_threads

if TYPE_CHECKING:
    from features.table import FeatureTable
    from pipeline.config import LgbmConfig
    from pipeline.data import Dataset
    from pipeline.folds import Folds
    from pipeline.importance import Selection
    from pipeline.tune import TunedSettings

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


def train_lgbm(
    data: Dataset,
    features: FeatureTable,
    folds: Folds,
    tuned: TunedSettings | None = None,
    *,
    cfg: LgbmConfig,
    name: str = "lgbm",
    kept: tuple[tuple[str, ...], ...] | None = None,
    optimism: tuple[str, ...] = (),
    on_fold: Callable[[int, float, float], None] | None = None,
) -> ModelResult:
    """LightGBM on every fold: OOF for each train row, test averaged over the fold models.
    ``tuned``: a study whose best settings go on top of ``cfg`` (the score is then labelled: they
    were chosen on these folds); its best trial's own result is returned when that command ran it.
    ``kept``: the features each fold trains on (one tuple per fold); default all. ``optimism`` and
    ``on_fold``: as ``cross_validate``."""
    if tuned is not None:
        if kept is None and not optimism and (trial := tuned.trained(name)) is not None:
            return trial  # the best trial was this very training: same settings and folds
        cfg, optimism = with_params(cfg, tuned.params), (*optimism, TUNED_ON_THESE_FOLDS)

    def make_model(fold: int, seed_index: int):
        fold_kept = None if kept is None else kept[fold]
        return features.fold_model(new_fold_model(cfg, data.n_classes, seed_index), fold_kept)

    result = cross_validate(
        name,
        make_model,
        features.train,
        features.test,
        data,
        folds,
        stopping_plan(cfg),
        n_seeds=cfg.n_seeds,
        optimism=(*features.optimism, *optimism),
        on_fold=on_fold,
    )
    info = {
        **result.info,
        "mode": cfg.mode,
        "best_iterations": [model.best_iteration for model in result.fold_models],
        "features": features.model_names() if kept is None else None,
        "features_per_fold": None if kept is None else [len(features.model_names(k)) for k in kept],
    }
    return dataclasses.replace(result, info={k: v for k, v in info.items() if v is not None})


def train_lgbm_pruned(
    data: Dataset,
    features: FeatureTable,
    folds: Folds,
    selection: Selection,
    tuned: TunedSettings | None = None,
    *,
    cfg: LgbmConfig,
) -> ModelResult:
    """LightGBM with the ``lgbm`` settings (tuned ones, if given), each fold on the features its own
    importances kept."""
    return train_lgbm(data, features, folds, tuned, cfg=cfg, name="lgbm_pruned", kept=selection.kept_per_fold)


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
