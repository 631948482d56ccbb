import numpy as np
import pandas as pd
import pytest
from testkit import with_copies

from pipeline.data.loading import Dataset
from pipeline.data.schema import MAGNITUDE_COLUMNS
from pipeline.engine.errors import ConfigError
from pipeline.validation.config import FoldsConfig
from pipeline.validation.folds import duplicate_groups, make_folds


def balanced(folds, labels, min_rows=30) -> bool:
    counts = pd.crosstab(labels, folds.fold_of_row)
    big = counts[counts.sum(axis=1) >= min_rows]
    return bool(((big.max(axis=1) - big.min(axis=1)) <= 1).all())


def test_every_row_gets_one_fold_stratified(tiny_data):
    folds = make_folds(tiny_data, FoldsConfig(n_splits=3, seed=1))
    assert folds.fold_of_row.index.equals(tiny_data.labels.index)
    assert set(folds.fold_of_row) == {0, 1, 2}
    assert balanced(folds, tiny_data.labels)


def test_same_seed_same_folds_other_seed_other_folds(tiny_data):
    a = make_folds(tiny_data, FoldsConfig(n_splits=3, seed=1))
    b = make_folds(tiny_data, FoldsConfig(n_splits=3, seed=1))
    c = make_folds(tiny_data, FoldsConfig(n_splits=3, seed=2))
    assert a.signature == b.signature != c.signature


def test_class_with_fewer_rows_than_folds_does_not_crash(tiny_data):
    labels = tiny_data.labels.copy()
    rare = labels[labels == tiny_data.classes.index("STAR_PN")].index
    labels.loc[rare[1:]] = tiny_data.classes.index("QSO")  # STAR_PN keeps a single row
    data = Dataset(tiny_data.train, labels, tiny_data.test, tiny_data.classes)
    folds = make_folds(data, FoldsConfig(n_splits=5, seed=0))
    assert folds.fold_of_row.loc[rare[0]] in range(5)
    assert sorted(folds.fold_of_row.unique()) == [0, 1, 2, 3, 4]


def photometry_key(data) -> pd.Series:
    """Each row's 20 magnitudes as one hashable key (independent of the folds module)."""
    return data.train[list(MAGNITUDE_COLUMNS)].apply(tuple, axis=1)


def test_copies_of_a_row_share_its_fold_and_are_counted(tiny_data):
    data = with_copies(tiny_data, share=0.2, seed=0, conflicting=3)
    folds = make_folds(data, FoldsConfig(n_splits=3, seed=1))
    folds_per_object = folds.fold_of_row.groupby(photometry_key(data).to_numpy()).nunique()
    assert folds_per_object.max() == 1
    before = make_folds(tiny_data, FoldsConfig(n_splits=3, seed=1)).duplicates  # the sample has some
    extra_rows = (folds.duplicates.rows - folds.duplicates.groups) - (before.rows - before.groups)
    assert extra_rows == len(data.labels) - len(tiny_data.labels)
    assert folds.duplicates.conflicting_groups >= 3 and folds.duplicates.kept_together
    assert balanced(folds, data.labels)  # copies are paid back by single rows of the same class
    assert folds.optimism == ()


def test_without_grouping_copies_cross_folds_and_the_folds_say_so(tiny_data):
    data = with_copies(tiny_data, share=0.2, seed=0)
    folds = make_folds(data, FoldsConfig(n_splits=3, seed=1, group_duplicates=False))
    assert folds.fold_of_row.groupby(photometry_key(data).to_numpy()).nunique().max() > 1
    assert not folds.duplicates.kept_together and "both sides" in folds.optimism[0]


def test_a_rare_class_whose_rows_are_all_copies_lands_in_one_fold(tiny_data):
    rare = tiny_data.classes.index("STAR_PN")
    rows = tiny_data.labels[tiny_data.labels == rare].index
    train = tiny_data.train.copy()
    train.loc[rows, list(MAGNITUDE_COLUMNS)] = train.loc[rows[0], list(MAGNITUDE_COLUMNS)].to_numpy()
    data = Dataset(train, tiny_data.labels, tiny_data.test, tiny_data.classes)
    folds = make_folds(data, FoldsConfig(n_splits=3, seed=0))
    assert folds.fold_of_row.loc[rows].nunique() == 1 and folds.fold_of_row.nunique() == 3


def test_fiber_id_does_not_split_a_group_and_one_magnitude_does():
    frame = pd.DataFrame(np.ones((4, len(MAGNITUDE_COLUMNS))), columns=list(MAGNITUDE_COLUMNS))
    frame.insert(0, "fiberID", [1, 2, 3, 4])
    frame.iloc[3, 5] = 1.5
    groups = duplicate_groups(frame)
    assert groups[0] == groups[1] == groups[2] != groups[3]


def test_too_few_distinct_rows_for_the_folds_is_a_config_error(tiny_data):
    train = tiny_data.train.iloc[:6].copy()
    train[list(MAGNITUDE_COLUMNS)] = 1.0
    labels = tiny_data.labels.iloc[:6].copy()
    labels[:] = tiny_data.classes.index("QSO")
    data = Dataset(train, labels, tiny_data.test, tiny_data.classes)
    with pytest.raises(ConfigError, match="folds.n_splits"):
        make_folds(data, FoldsConfig(n_splits=3, seed=0))
