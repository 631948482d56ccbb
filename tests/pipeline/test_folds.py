import pandas as pd

from pipeline.config import FoldsConfig
from pipeline.data import Dataset
from pipeline.folds import make_folds


def test_every_row_gets_one_fold_stratified(tiny_data):
    folds = make_folds(tiny_data, FoldsConfig(n_splits=3, seed=1))
    assert folds.fold_of_row.index.equals(tiny_data.labels.index)
    assert set(folds.fold_of_row) == {0, 1, 2}
    counts = pd.crosstab(tiny_data.labels, folds.fold_of_row)
    big = counts[counts.sum(axis=1) >= 30]
    assert ((big.max(axis=1) - big.min(axis=1)) <= 1).all()


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
