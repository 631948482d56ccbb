"""Invariants every registered family keeps, checked on each (the zoo's families and the core ones).

- 19 class columns even when a fold's fit rows lack a class;
- no fold's OOF prediction depends on that fold's own labels (stopping on the scored fold is caught);
- on shuffled labels it cannot beat the class prior, even with planted duplicates, unless the folds
  split the copies apart (which is caught, and labelled optimistic).
"""

import dataclasses

import numpy as np
import pytest
from testkit import TINY, prior_log_loss, with_copies, with_labels

from features.table import build_features
from models.registry import family_names
from models.training import train_model
from pipeline.config import load_config
from pipeline.data.loading import Dataset
from pipeline.data.sources import SampleSource
from pipeline.validation.config import FoldsConfig
from pipeline.validation.folds import make_folds

FAMILIES = family_names()
ZOO_TINY = [
    *TINY,
    "xgb.num_boost_round=60",
    "xgb.early_stopping_rounds=5",
    "xgb.learning_rate=0.3",
    "xgb.max_bin=31",
    "catboost.iterations=40",
    "catboost.early_stopping_rounds=5",
    "catboost.learning_rate=0.3",
    "catboost.depth=4",
    "catboost.border_count=31",
]
MEMORISING = {  # can memorise a copy's label when the copy sits in the fit rows (lgbm: test_honesty.py)
    "xgb": ["xgb.max_depth=10", "xgb.min_child_weight=0.0", "xgb.subsample=1.0", "xgb.colsample_bytree=1.0",
            "xgb.num_boost_round=100", "xgb.early_stopping_rounds=10"],
}  # fmt: skip


def settings(overrides=()):
    return load_config(overrides=[*ZOO_TINY, *overrides])


@pytest.fixture(scope="module")
def tiny():
    config = settings()
    data = SampleSource(config.sample).load()
    return (
        config,
        data,
        build_features(data, config.features),
        make_folds(data, FoldsConfig(n_splits=3, seed=0)),
    )


def train(family, data, features, folds, config):
    return train_model(data, features, folds, cfg=config.section(family), family=family)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_class_absent_from_a_folds_fit_rows_still_gets_a_column(tiny, family):
    config, data, features, folds = tiny
    labels = data.labels.copy()
    rare = data.classes.index("STAR_PN")
    rows = labels[labels == rare].index
    labels.loc[rows[1:]] = data.classes.index("QSO")  # one STAR_PN row left: two folds never see it
    result = train(family, Dataset(data.train, labels, data.test, data.classes), features, folds, config)
    assert list(result.oof_proba.columns) == list(data.classes)
    assert result.test_proba.shape == (len(data.test), 19)
    assert np.isfinite(result.oof_proba.to_numpy()).all()
    assert np.allclose(result.oof_proba.sum(axis=1), 1.0, atol=1e-5)
    assert result.oof_proba.loc[rows[0], "STAR_PN"] > 0


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(("stopping", "leaks"), [("inner", False), ("valid_fold", True)])
def test_fold_predictions_ignore_the_folds_own_labels(tiny, family, stopping, leaks):
    config, data, features, folds = tiny
    if family == "lgbm" or (family == "mlp" and leaks):
        pytest.skip("lgbm: tests/pipeline/test_honesty.py; mlp may stop at the same epoch on either labels")
    cfg = dataclasses.replace(config.section(family), early_stopping=stopping)
    before = train_model(data, features, folds, cfg=cfg, family=family)
    for fold in range(folds.n_splits):
        in_fold = folds.fold_of_row.to_numpy() == fold
        labels = data.labels.to_numpy().copy()
        labels[in_fold] = np.random.default_rng(5 + fold).integers(0, 19, in_fold.sum())  # counts change
        after = train_model(with_labels(data, labels), features, folds, cfg=cfg, family=family)
        rows = before.oof_proba.to_numpy()[in_fold], after.oof_proba.to_numpy()[in_fold]
        assert np.allclose(*rows, atol=1e-9) is not leaks, f"fold {fold}"
    assert (before.honesty == "honest") is not leaks


@pytest.mark.parametrize("family", FAMILIES)
def test_shuffled_labels_never_beat_the_class_prior(tiny, family):
    config, data, features, folds = tiny
    shuffled = with_labels(data, np.random.default_rng(0).permutation(data.labels.to_numpy()))
    result = train(family, shuffled, features, folds, config)
    assert result.oof_score >= prior_log_loss(shuffled.labels.to_numpy(), 19) - 0.005


@pytest.mark.parametrize(
    ("family", "grouped"), [(f, True) for f in FAMILIES] + [(f, False) for f in MEMORISING]
)
def test_planted_duplicates_beat_the_prior_only_when_folds_split_them(family, grouped):
    """Shuffled labels, half the rows copied with their label: only the copies carry signal."""
    config = settings(MEMORISING.get(family, ()))
    data = SampleSource(config.sample).load()
    shuffled = with_labels(data, np.random.default_rng(0).permutation(data.labels.to_numpy()))
    planted = with_copies(shuffled, share=0.5, seed=1, other_fiber=False)
    folds = make_folds(planted, FoldsConfig(n_splits=3, seed=0, group_duplicates=grouped))
    result = train(family, planted, build_features(planted, config.features), folds, config)
    prior = prior_log_loss(planted.labels.to_numpy(), planted.n_classes)
    assert (result.oof_score < prior - 0.005) is not grouped
    assert (result.honesty == "honest") is grouped
