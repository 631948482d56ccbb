"""Permutation importance (eli5) on held-out rows, the cutoff rules and the pruned models."""

import numpy as np
import pandas as pd
import pytest
from eli5.sklearn import PermutationImportance
from testkit import TINY, make_runner, train_lgbm

from features.config import FeaturesConfig
from features.table import FeatureTable, build_features
from pipeline.config import load_config
from pipeline.stages.config import ImportanceConfig, SelectionConfig
from pipeline.stages.importance import (
    Importance,
    PrefitClassifier,
    fold_importance,
    neg_log_loss,
    permutation_importance,
    select_features,
    stratified_subsample,
)
from pipeline.validation.config import FoldsConfig
from pipeline.validation.folds import make_folds

QUICK = [*TINY, "importance.max_rows=200", "importance.n_iter=1"]


@pytest.fixture
def planted(tiny_data, tiny_config):
    """The tiny feature table plus a pure-noise column and a column that nearly gives the label."""
    base = build_features(tiny_data, FeaturesConfig(families=("raw", "colours")))
    rng = np.random.default_rng(0)

    def plant(frame: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
        frame = frame.copy()
        frame["noise"] = rng.normal(size=len(frame)).astype(np.float32)
        frame["oracle"] = (labels + rng.normal(scale=0.05, size=len(frame))).astype(np.float32)
        return frame

    test_labels = tiny_data.test_labels.loc[base.test.index].to_numpy()
    features = FeatureTable(
        train=plant(base.train, tiny_data.labels.loc[base.train.index].to_numpy()),
        test=plant(base.test, test_labels),
    )
    folds = make_folds(tiny_data, FoldsConfig(n_splits=3, seed=0))
    lgbm = train_lgbm(tiny_data, features, folds, cfg=tiny_config.lgbm)
    importance = permutation_importance(tiny_data, features, folds, lgbm, ImportanceConfig(max_rows=300))
    return importance, features


def test_informative_feature_ranks_first_and_noise_ranks_low_and_is_pruned(planted):
    importance, features = planted
    table = importance.table
    assert table.index[0] == "oracle"
    assert table.loc["oracle", "mean"] > 10 * table["mean"].drop("oracle").abs().max()
    assert list(table.index).index("noise") >= len(table) * 3 // 4
    selection = select_features(importance, SelectionConfig())
    for fold, kept in enumerate(selection.kept_per_fold):
        assert kept[0] == "oracle" and importance.fold_table(fold).index[0] == "oracle"
    assert selection.folds_keeping()["noise"] <= 1
    assert list(selection.folds_keeping().index) == list(table.index)


def test_importances_come_from_a_stratified_sample_of_each_folds_held_out_rows(planted, tiny_data):
    importance, _ = planted
    assert importance.rows_per_fold and all(rows <= 320 for rows in importance.rows_per_fold)
    assert importance.table.filter(like="fold_").shape[1] == 3
    counts = np.bincount(tiny_data.labels.to_numpy(), minlength=19)
    share = counts[counts > 0] / counts.sum()
    prior = float(-(share * np.log(share)).sum())  # the log loss of predicting the class shares
    assert all(score < prior / 3 for score in importance.base_scores)  # the fold models use the oracle


def test_importance_refuses_models_without_held_out_rows(tiny_data, tiny_config):
    from pipeline.engine.errors import ConfigError

    features = build_features(tiny_data, FeaturesConfig(families=("raw",)))
    folds = make_folds(tiny_data, FoldsConfig(n_splits=3, seed=0))
    cfg = load_config(overrides=[*TINY, 'lgbm.early_stopping="valid_fold"']).lgbm
    lgbm = train_lgbm(tiny_data, features, folds, cfg=cfg)
    with pytest.raises(ConfigError, match="lgbm.early_stopping"):
        permutation_importance(tiny_data, features, folds, lgbm, ImportanceConfig(max_rows=100))


def test_stratified_subsample_keeps_every_class():
    labels = np.array([0] * 1000 + [1] * 30 + [2] * 1)
    rows = stratified_subsample(labels, 100, seed=0)
    assert 90 <= len(rows) <= 110 and set(labels[rows]) == {0, 1, 2}
    assert np.array_equal(stratified_subsample(labels[:50], 100, seed=0), np.arange(50))


def test_scorer_handles_classes_missing_from_the_rows():
    class Uniform:
        def predict_proba(self, x):
            return np.full((len(x), 19), 1 / 19)

    estimator = PrefitClassifier(Uniform(), 19)
    assert neg_log_loss(estimator, np.zeros((3, 2)), np.array([0, 0, 4])) == pytest.approx(-np.log(19))
    assert estimator.predict(np.zeros((2, 2))).tolist() == [0, 0]


def test_fold_importance_gives_eli5s_scores_of_predicting_every_tree(tiny_data, tiny_config):
    """Re-evaluating only the trees on the shuffled column changes nothing but the cost: the same
    decreases as eli5 with full predictions, for a fold model that sees a subset of the columns."""
    features = build_features(tiny_data, FeaturesConfig(families=("raw", "colours")))
    folds = make_folds(tiny_data, FoldsConfig(n_splits=3, seed=0))
    kept = (tuple(features.names[::2]),) * 3
    model = train_lgbm(tiny_data, features, folds, cfg=tiny_config.lgbm, kept=kept).fold_models[0]
    x = features.train.to_numpy(np.float32)[:300]
    y = tiny_data.labels.loc[features.train.index].to_numpy()[:300]
    base, decreases = fold_importance(model, x, y, 19, n_iter=2, seed=3)
    plain = PermutationImportance(
        PrefitClassifier(model, 19), scoring=neg_log_loss, n_iter=2, random_state=3, cv="prefit"
    ).fit(x, y)
    assert base == pytest.approx(-plain.scores_.mean(), abs=1e-12)
    assert np.abs(decreases - np.asarray(plain.results_)).max() < 1e-12
    assert (decreases[:, 1::2] == 0).all() and (decreases[:, ::2] != 0).any()  # columns it never sees: 0


def hand_made(means, stds) -> Importance:
    """One fold, two shuffles whose mean and (population) std are the given ones."""
    means, stds = np.asarray(means), np.asarray(stds)
    decreases = np.stack([means - stds, means + stds])
    names = tuple(f"f{i}" for i in range(len(means)))
    table = pd.DataFrame({"mean": means, "std": stds}, index=names).sort_values("mean", ascending=False)
    return Importance(table, (0.5,), (10,), n_iter=2, decreases=(decreases,), names=names)


@pytest.mark.parametrize(
    ("cfg", "kept"),
    [
        (SelectionConfig(rule="mean_minus_std", k_std=1.0), ("f0",)),
        (SelectionConfig(rule="mean_above", threshold=0.0), ("f0", "f1")),
        (SelectionConfig(rule="top_k", top_k=3), ("f0", "f1", "f2")),
        (SelectionConfig(rule="all"), ("f0", "f1", "f2", "f3")),
        (SelectionConfig(rule="mean_above", threshold=1.0), ("f0",)),  # never empty
    ],
)
def test_cutoff_rules(cfg, kept):
    selection = select_features(hand_made([0.3, 0.01, 0.0, -0.02], [0.05, 0.02, 0.01, 0.01]), cfg)
    assert selection.kept_per_fold == (kept,)
    assert selection.folds_keeping().sum() == len(kept)


def test_kept_lists_set_each_folds_inputs_and_the_cache_key(tmp_path):
    base = [*TINY, "blend.models=['lgbm', 'lgbm_pruned']", "importance.max_rows=200", "importance.n_iter=1"]
    first = make_runner(
        load_config(overrides=[*base, "selection.rule='top_k'", "selection.top_k=5"]), tmp_path
    )
    pruned = first.run("lgbm_pruned")
    selection = first.artifact("selection")
    assert pruned.info["features_per_fold"] == [5, 5, 5] and len(selection.kept_per_fold) == 3
    assert pruned.name == "lgbm_pruned" and pruned.oof_proba.shape[1] == 19
    x = first.artifact("features").train.to_numpy(np.float32)
    for model, kept in zip(pruned.fold_models, selection.kept_per_fold):
        assert model.booster.num_feature() == len(kept)
        assert np.allclose(model.predict_proba(x), model.model.predict_proba(x[:, model.columns]))
    second = make_runner(
        load_config(overrides=[*base, "selection.rule='top_k'", "selection.top_k=8"]), tmp_path
    )
    assert second.run("lgbm_pruned").info["features_per_fold"] == [8, 8, 8]
    assert second.key("lgbm_pruned") != first.key("lgbm_pruned")
    assert second.key("importance") == first.key("importance")
    assert second.records["importance"].status.startswith("cached")
    blend = second.run("blend")
    assert set(blend.info["weights"]) == {"lgbm", "lgbm_pruned"}


def test_pruned_mlp_trains_each_fold_on_its_kept_features(tmp_path):
    config = load_config(
        overrides=[
            *TINY,
            "importance.max_rows=200",
            "importance.n_iter=1",
            "selection.rule='top_k'",
            "selection.top_k=6",
        ]
    )
    runner = make_runner(config, tmp_path)
    result = runner.run("mlp_pruned")
    assert result.info["features_per_fold"] == [6, 6, 6]
    assert [m.net.n_numeric for m in result.fold_models] == [6, 6, 6]


def test_column_subset_feeds_the_model_only_its_columns():
    from pipeline.validation.cv import ColumnSubset

    class Recorder:
        def fit(self, x_fit, y_fit, x_stop, y_stop):
            self.shapes = (x_fit.shape, None if x_stop is None else x_stop.shape)

        def predict_proba(self, x):
            return x

    model = ColumnSubset(Recorder(), np.array([2, 0]))
    x = np.arange(12.0).reshape(3, 4)
    model.fit(x, None, x[:1], None)
    assert model.model.shapes == ((3, 2), (1, 2))
    assert model.predict_proba(x).tolist() == [[2.0, 0.0], [6.0, 4.0], [10.0, 8.0]]
