"""The lgbm stage: LightGBM multiclass per fold (gbdt, dart or goss), averaged over seeds."""

from __future__ import annotations

import dataclasses
import functools
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

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
        predictor = self._changed_trees_predictor(x)
        if predictor is not None:
            return predictor.predict_proba(x)
        return self.booster.predict(x, num_iteration=self.best_iteration)

    def _changed_trees_predictor(self, x: np.ndarray) -> ChangedTreesPredictor | None:
        """Inside ``changed_trees_only``: this model's predictor, made on its first rows there."""
        if _changed_trees is None:
            return None
        if id(self) not in _changed_trees:
            _changed_trees[id(self)] = ChangedTreesPredictor.for_booster(self.booster, self.best_iteration, x)
        return _changed_trees[id(self)]


_changed_trees: dict[int, ChangedTreesPredictor | None] | None = None

# A tree that always outputs 0, in LightGBM's model-string layout: it stands in for every tree that
# cannot see the changed columns.
ZERO_TREE = (
    "num_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\nthreshold=\ndecision_type=\nleft_child=\n"
    "right_child=\nleaf_value=0\nleaf_weight=\nleaf_count=0\ninternal_value=\ninternal_weight=\n"
    "internal_count=\nis_linear=0\nshrinkage=1"
)
TREES_END = "end of trees"


@contextmanager
def changed_trees_only() -> Iterator[None]:
    """Inside, a LightGBM fold model's first prediction becomes its reference; a later one on rows
    that differ from it in a few columns (a permuted feature) re-evaluates only the trees that split
    on those columns and adds their change to the reference's raw scores. Same probabilities as a
    full prediction (up to float rounding), at a fraction of the cost for permutation importance."""
    global _changed_trees
    before, _changed_trees = _changed_trees, {}
    try:
        yield
    finally:
        _changed_trees = before


class ChangedTreesPredictor:
    """A multiclass booster's raw scores on reference rows, and the trees each input column feeds."""

    max_share = 0.5  # above this share of trees to re-evaluate, a full prediction is cheaper

    def __init__(self, booster: lgb.Booster, num_iteration: int, reference: np.ndarray, head: str, rest: str):
        """``head`` and ``rest``: the booster's model string before and after its first ``Tree=``."""
        self.booster, self.num_iteration = booster, num_iteration
        self.reference = reference.copy()
        self.raw = booster.predict(reference, num_iteration=num_iteration, raw_score=True)
        body, _, tail = rest.partition(TREES_END)
        self.head = "\n".join(line for line in head.split("\n") if not line.startswith("tree_sizes="))
        self.tail = TREES_END + tail
        self.trees = ["Tree=" + tree for tree in body.rstrip("\n").split("\n\n\nTree=")]
        self.splits_on = [split_features(tree) for tree in self.trees]
        self._reference_raw: dict[frozenset, np.ndarray] = {}

    @classmethod
    def for_booster(cls, booster: lgb.Booster, num_iteration: int, reference: np.ndarray):
        """The predictor for ``booster``'s first ``num_iteration`` rounds, or None where raw scores
        do not add up tree by tree into softmax probabilities (another objective, linear trees)."""
        head, found, rest = booster.model_to_string(num_iteration=num_iteration).partition("\nTree=")
        if not found or "\nobjective=multiclass " not in head or "is_linear=1" in rest:
            return None
        return cls(booster, num_iteration, reference, head, rest)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if x.shape != self.reference.shape:
            return self.booster.predict(x, num_iteration=self.num_iteration)
        changed = frozenset(changed_columns(self.reference, x).tolist())
        if not changed:
            return softmax(self.raw)
        uses = [bool(features & changed) for features in self.splits_on]
        if sum(uses) > self.max_share * len(uses):
            return self.booster.predict(x, num_iteration=self.num_iteration)
        subset = self._booster(
            [tree if use else f"Tree={i}\n{ZERO_TREE}" for i, (tree, use) in enumerate(zip(self.trees, uses))]
        )
        if changed not in self._reference_raw:  # a few kB per column: kept for the next shuffle
            self._reference_raw[changed] = subset.predict(self.reference, raw_score=True)
        return softmax(self.raw + (subset.predict(x, raw_score=True) - self._reference_raw[changed]))

    def _booster(self, trees: list[str]) -> lgb.Booster:
        return lgb.Booster(model_str=f"{self.head}\n" + "\n\n\n".join(trees) + f"\n\n\n{self.tail}")


def split_features(tree: str) -> frozenset[int]:
    """The input columns a tree of a LightGBM model string splits on."""
    line = next(line for line in tree.split("\n") if line.startswith("split_feature="))
    return frozenset(int(value) for value in line.removeprefix("split_feature=").split())


def changed_columns(reference: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Columns where some row of ``x`` differs from ``reference`` (NaN equals NaN)."""
    same = reference == x
    if np.issubdtype(x.dtype, np.floating):
        same |= np.isnan(reference) & np.isnan(x)
    return np.flatnonzero(~same.all(axis=0))


def softmax(raw: np.ndarray) -> np.ndarray:
    """LightGBM's multiclass probabilities from raw scores."""
    shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


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
