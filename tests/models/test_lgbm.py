import numpy as np
import pytest
from testkit import TINY

from features.table import build_features
from models.lgbm import LgbmFoldModel, train_lgbm
from pipeline.config import FeaturesConfig, FoldsConfig, load_config
from pipeline.data import Dataset
from pipeline.folds import make_folds
from pipeline.metrics import multiclass_log_loss


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
    assert result.oof_proba.loc[rows[0], "STAR_PN"] > 0
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
