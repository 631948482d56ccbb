"""The CV loop: which rows each fold fits on, stops on and is scored on, whatever the model."""

import numpy as np
import pandas as pd
import pytest
from testkit import with_copies

from pipeline.data.schema import MAGNITUDE_COLUMNS
from pipeline.validation.config import FoldsConfig
from pipeline.validation.cv import StoppingPlan, cross_validate, inner_split
from pipeline.validation.folds import make_folds


class Recorder:
    """A fold model that remembers the ids (column 0) it fitted and stopped on; predicts its prior."""

    def fit(self, x_fit, y_fit, x_stop, y_stop):
        self.fit_ids = set(x_fit[:, 0].astype(int))
        self.stop_ids = None if x_stop is None else set(x_stop[:, 0].astype(int))
        counts = np.bincount(y_fit, minlength=19) + 1.0
        self.prior = counts / counts.sum()

    def predict_proba(self, x):
        return np.tile(self.prior, (len(x), 1))


@pytest.fixture
def duplicated(tiny_data):
    data = with_copies(tiny_data, share=0.3, seed=1)
    folds = make_folds(data, FoldsConfig(n_splits=3, seed=0))
    ids = pd.DataFrame({"id": data.train.index.to_numpy(np.float32)}, index=data.train.index)
    test_ids = pd.DataFrame({"id": data.test.index.to_numpy(np.float32)}, index=data.test.index)
    return data, folds, ids, test_ids


def record(data, folds, ids, test_ids, plan):
    return cross_validate("recorder", lambda fold, seed: Recorder(), ids, test_ids, data, folds, plan)


def photometry_groups(data) -> pd.Series:
    return data.train[list(MAGNITUDE_COLUMNS)].apply(tuple, axis=1)


def test_inner_held_out_rows_are_outside_the_scored_fold_and_the_fit_rows_and_keep_copies_together(
    duplicated,
):
    data, folds, ids, test_ids = duplicated
    result = record(data, folds, ids, test_ids, StoppingPlan("inner", 0.2, 0))
    objects = photometry_groups(data)
    for fold, model in enumerate(result.fold_models):
        scored = set(folds.fold_of_row.index[folds.fold_of_row == fold])
        training = set(folds.fold_of_row.index[folds.fold_of_row != fold])
        assert not model.fit_ids & scored and not model.stop_ids & scored
        assert not model.fit_ids & model.stop_ids and model.fit_ids | model.stop_ids == training
        assert 0.15 < len(model.stop_ids) / len(training) < 0.25
        fit_objects = set(objects.loc[sorted(model.fit_ids)])
        assert fit_objects.isdisjoint(objects.loc[sorted(model.stop_ids)])  # no copy on both sides
        assert set(result.held_out_ids[fold]) == model.stop_ids
    assert result.optimism == () and result.honesty == "honest"


def test_stopping_on_the_scored_fold_is_labelled_optimistic(duplicated):
    data, folds, ids, test_ids = duplicated
    result = record(data, folds, ids, test_ids, StoppingPlan("valid_fold"))
    for fold, model in enumerate(result.fold_models):
        assert model.stop_ids == set(folds.fold_of_row.index[folds.fold_of_row == fold])
    assert result.honesty == "optimistic: early stopping on the scored fold"
    assert all(len(ids) == 0 for ids in result.held_out_ids)  # nothing for importance to use


def test_no_stopping_fits_every_training_row(duplicated):
    data, folds, ids, test_ids = duplicated
    result = record(data, folds, ids, test_ids, StoppingPlan("none"))
    for fold, model in enumerate(result.fold_models):
        assert model.stop_ids is None
        assert model.fit_ids == set(folds.fold_of_row.index[folds.fold_of_row != fold])
    assert result.honesty == "honest"


def test_folds_that_let_copies_cross_label_every_model_optimistic(tiny_data):
    data = with_copies(tiny_data, share=0.3, seed=1)
    folds = make_folds(data, FoldsConfig(n_splits=3, seed=0, group_duplicates=False))
    ids = pd.DataFrame({"id": data.train.index.to_numpy(np.float32)}, index=data.train.index)
    test_ids = pd.DataFrame({"id": data.test.index.to_numpy(np.float32)}, index=data.test.index)
    result = record(data, folds, ids, test_ids, StoppingPlan("inner"))
    assert result.honesty.startswith("optimistic: duplicated rows on both sides")


def test_inner_split_is_stratified_and_leaves_a_single_group_class_in_fit():
    labels = np.array([0] * 100 + [1] * 20 + [2] * 3)
    groups = np.arange(len(labels))
    groups[120:] = 120  # class 2: one object seen three times
    fit, stop = inner_split(labels, 0.1, seed=0, groups=groups)
    assert np.bincount(labels[stop], minlength=3).tolist() == [10, 2, 0]
    assert len(fit) + len(stop) == len(labels) and not set(fit) & set(stop)
