import re

import lightgbm as lgb
import numpy as np
import pytest
from testkit import TINY, train_lgbm

from features.config import FeaturesConfig
from features.table import build_features
from models.lgbm.permutation import ZERO_TREE, ChangedTreesPredictor
from models.lgbm.trainer import LgbmFoldModel, canonical_params, lgbm_params, with_params
from pipeline.config import load_config
from pipeline.data.loading import Dataset
from pipeline.validation.config import FoldsConfig
from pipeline.validation.folds import make_folds
from pipeline.validation.metrics import multiclass_log_loss


@pytest.fixture
def inputs(tiny_data):
    features = build_features(tiny_data, FeaturesConfig())
    folds = make_folds(tiny_data, FoldsConfig(n_splits=3, seed=0))
    return tiny_data, features, folds


def test_oof_covers_every_row_with_all_classes_and_recomputes_the_score(inputs, tiny_config):
    data, features, folds = inputs
    result = train_lgbm(data, features, folds, cfg=tiny_config.lgbm)
    assert result.oof_proba.shape == (len(data.train), 19)
    assert list(result.oof_proba.columns) == list(data.classes)
    assert result.test_proba.index.equals(data.test.index)
    assert np.allclose(result.oof_proba.sum(axis=1), 1.0) and np.allclose(result.test_proba.sum(axis=1), 1.0)
    labels = data.labels.to_numpy()
    assert result.oof_score == pytest.approx(multiclass_log_loss(labels, result.oof_proba.to_numpy()))
    assert result.oof_score < multiclass_log_loss(
        labels, np.tile(np.bincount(labels, minlength=19) / len(labels), (len(labels), 1))
    )
    assert len(result.fold_scores) == 3


def test_early_stopping_really_stops(inputs):
    data, features, folds = inputs
    config = load_config(overrides=[*TINY, "lgbm.num_boost_round=2000", "lgbm.learning_rate=0.5"])
    result = train_lgbm(data, features, folds, cfg=config.lgbm)
    assert max(result.info["best_iterations"]) < 2000


def test_class_absent_from_a_folds_training_rows_still_gets_a_column(inputs, tiny_config):
    data, features, folds = inputs
    labels = data.labels.copy()
    absent = data.classes.index("STAR_PN")
    rows = labels[labels == absent].index
    labels.loc[rows[1:]] = data.classes.index("QSO")  # one STAR_PN row left: in one fold only
    only = Dataset(data.train, labels, data.test, data.classes)
    result = train_lgbm(only, features, folds, cfg=tiny_config.lgbm)
    assert result.oof_proba.shape[1] == 19
    unseen = result.oof_proba.loc[rows[0], "STAR_PN"]  # its fold never saw a STAR_PN row
    assert 0 < unseen < 0.01  # a column of its own: small, never zero (an infinite log loss)
    assert np.isfinite(result.oof_proba.to_numpy()).all()


def test_fold_model_predicts_all_classes_even_when_training_on_two():
    x = np.random.default_rng(0).normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(int) * 5
    model = LgbmFoldModel(
        {"objective": "multiclass", "num_class": 19, "verbose": -1, "min_data_in_leaf": 5}, 20, 0
    )
    model.fit(x, y, None, None)
    proba = model.predict_proba(x)
    assert proba.shape == (200, 19) and np.allclose(proba.sum(axis=1), 1.0)


def test_dart_trains_fixed_rounds_and_never_stops_on_its_held_out_rows(inputs):
    data, features, folds = inputs
    config = load_config(
        overrides=[*TINY, 'lgbm.mode="dart"', "lgbm.num_boost_round=15", "lgbm.early_stopping_rounds=1"]
    )
    result = train_lgbm(data, features, folds, cfg=config.lgbm)
    assert result.info["mode"] == "dart" and result.info["best_iterations"] == [15, 15, 15]
    booster = result.fold_models[0].booster
    assert booster.params["boosting"] == "dart"
    assert booster.num_trees() == 15 * 19
    assert all(len(ids) > 0 for ids in result.held_out_ids)  # kept for permutation importance


def test_goss_samples_by_gradient_without_bagging(tiny_config):
    cfg = load_config(overrides=[*TINY, 'lgbm.mode="goss"']).lgbm
    params = lgbm_params(cfg, 19)
    assert params["data_sample_strategy"] == "goss" and params["boosting"] == "gbdt"
    assert "bagging_fraction" not in params and "bagging_freq" not in params
    assert lgbm_params(tiny_config.lgbm, 19)["boosting"] == "gbdt"


def test_goss_trains(inputs):
    data, features, folds = inputs
    result = train_lgbm(data, features, folds, cfg=load_config(overrides=[*TINY, 'lgbm.mode="goss"']).lgbm)
    assert result.fold_models[0].booster.params["data_sample_strategy"] == "goss"
    assert np.isfinite(result.oof_score)


def test_boosting_in_params_is_refused_in_favour_of_mode():
    from pipeline.engine.errors import ConfigError

    with pytest.raises(ConfigError, match="lgbm.mode"):
        load_config(overrides=['lgbm.boosting="dart"'])


def test_seeds_are_averaged_per_fold(inputs):
    data, features, folds = inputs
    one = train_lgbm(data, features, folds, cfg=load_config(overrides=TINY).lgbm)
    three = train_lgbm(data, features, folds, cfg=load_config(overrides=[*TINY, "lgbm.n_seeds=3"]).lgbm)
    average = three.fold_models[0]
    assert len(average.models) == 3
    seeds = [model.params["seed"] for model in average.models]
    assert seeds == [42, 1042, 2042]
    valid = np.flatnonzero(folds.fold_of_row.to_numpy() == 0)
    x = features.train.to_numpy(np.float32)[valid]
    mean = np.mean([model.predict_proba(x) for model in average.models], axis=0)
    assert np.allclose(three.oof_proba.to_numpy()[valid], mean)
    assert np.allclose(one.oof_proba.to_numpy()[valid], average.models[0].predict_proba(x))
    assert three.info["n_seeds"] == 3 and len(three.info["best_iterations"]) == 3


def test_parameters_given_by_several_names_keep_the_value_lightgbm_uses():
    given = {"min_child_samples": 30, "min_data": 40, "min_child_weight": 3.0, "num_leaves": 7}
    x = np.random.default_rng(0).normal(size=(200, 3))
    booster = lgb.train({**given, "verbose": -1}, lgb.Dataset(x, x[:, 0] > 0), num_boost_round=1)
    pattern = r"\[(min_data_in_leaf|min_sum_hessian_in_leaf): ([^\]]+)\]"
    used = {k: float(v) for k, v in re.findall(pattern, booster.model_to_string())}
    expected = {"min_data_in_leaf": 40, "min_sum_hessian_in_leaf": 3.0}
    assert used == expected and canonical_params(given) == {**expected, "num_leaves": 7}


def test_tuned_parameters_override_a_config_that_names_them_by_an_alias():
    cfg = load_config(overrides=["lgbm.reg_alpha=0.5"]).lgbm
    tuned = with_params(cfg, {"lambda_l1": 2.0})
    assert tuned.params["lambda_l1"] == 2.0 and "reg_alpha" not in tuned.params
    assert tuned.params["num_leaves"] == cfg.params["num_leaves"]


def trained_multiclass(objective: str = "multiclass", **params):
    """A booster on random rows with missing values and a constant last column, stopped early."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 12)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    x = np.hstack([x, np.zeros((len(x), 1), np.float32)])  # no tree can split on it
    y = (
        (np.nan_to_num(x[:, 0]) > 0).astype(int)
        + (np.nan_to_num(x[:, 1]) > 0.7)
        + (np.nan_to_num(x[:, 2]) > 1)
    )
    base = {"objective": objective, "verbose": -1, "num_leaves": 7, "feature_fraction": 0.3, "seed": 0}
    base |= {"num_class": 4} if objective.startswith("multiclass") else {}
    model = LgbmFoldModel({**base, **params}, 200, 5)
    stop = rng.permutation(len(x))[:150]
    fit = np.setdiff1d(np.arange(len(x)), stop)
    y_used = y if objective.startswith("multiclass") else (y > 0).astype(int)
    model.fit(x[fit], y_used[fit], x[stop], y_used[stop])
    return model, x[stop]


def permuted(x: np.ndarray, columns: list[int], seed: int = 1) -> np.ndarray:
    out = x.copy()
    rng = np.random.default_rng(seed)
    for column in columns:
        out[:, column] = rng.permutation(out[:, column])
    return out


def test_the_permutation_predictor_gives_the_full_predictions_and_evaluates_only_the_trees_on_changed_columns(
    monkeypatch,
):
    model, rows = trained_multiclass()
    rebuilt = []
    real_booster = ChangedTreesPredictor._booster
    monkeypatch.setattr(
        ChangedTreesPredictor,
        "_booster",
        lambda self, trees: (
            rebuilt.append(sum(t.endswith(ZERO_TREE) for t in trees) / len(trees))
            or real_booster(self, trees)
        ),
    )
    full = model.booster.predict
    fast = model.for_permutations()
    assert np.allclose(fast.predict_proba(rows), full(rows, num_iteration=model.best_iteration), atol=1e-14)
    for columns in ([0], [5], [1, 11], []):
        x = permuted(rows, columns)
        expected = full(x, num_iteration=model.best_iteration)
        assert np.abs(fast.predict_proba(x) - expected).max() < 1e-12
    assert rebuilt and all(0 < zero_share < 1 for zero_share in rebuilt)  # a subset of the trees
    other_rows = rows[:40]  # other rows: a full prediction
    assert (
        np.abs(fast.predict_proba(other_rows) - full(other_rows, num_iteration=model.best_iteration)).max()
        < 1e-12
    )
    count = len(rebuilt)
    x = permuted(rows, [0])
    assert np.array_equal(model.predict_proba(x), full(x, num_iteration=model.best_iteration))
    assert len(rebuilt) == count  # the model itself always predicts every tree: no hidden state


def test_a_column_no_tree_splits_on_leaves_the_reference_probabilities_exactly():
    model, rows = trained_multiclass()
    x = rows.copy()
    x[:, -1] = 1e6  # the constant column
    fast = model.for_permutations()
    reference = fast.predict_proba(rows)
    assert np.array_equal(fast.predict_proba(x), reference)


def test_the_permutation_predictor_leaves_other_objectives_to_lightgbm():
    model, rows = trained_multiclass("binary")
    fast = model.for_permutations()
    fast.predict_proba(rows)
    x = permuted(rows, [0])
    assert np.array_equal(fast.predict_proba(x), model.booster.predict(x, num_iteration=model.best_iteration))
