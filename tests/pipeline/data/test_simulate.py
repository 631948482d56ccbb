import numpy as np
import pandas as pd
import pytest
from testkit import SHARED_DACON

from pipeline.data.config import SampleConfig
from pipeline.data.schema import DACON_CLASS_ORDER, TEST_COLUMNS, TRAIN_COLUMNS
from pipeline.data.simulate import Z_KNOTS, class_counts, quantile_curve, read_profiles, simulate

SMALL = SampleConfig(n_train=4000, n_test=400)


@pytest.fixture(scope="module")
def files():
    return simulate(SMALL)


def test_same_seed_same_sample_other_seed_other_sample(files):
    again = simulate(SMALL)
    pd.testing.assert_frame_equal(files.train, again.train)
    other = simulate(SampleConfig(n_train=4000, n_test=400, seed=7))
    assert not files.train.equals(other.train)


def test_files_have_dacons_columns_and_class_order(files):
    assert tuple(files.train.columns) == TRAIN_COLUMNS
    assert tuple(files.test.columns) == TEST_COLUMNS
    assert list(files.sample_submission.columns) == ["id", *DACON_CLASS_ORDER]
    assert files.sample_submission["id"].tolist() == files.test["id"].tolist()
    assert set(files.train["id"]).isdisjoint(files.test["id"])


def test_all_19_classes_in_dacon_proportions(files):
    counts = files.train["type"].value_counts()
    assert set(counts.index) == set(DACON_CLASS_ORDER)
    assert counts.min() >= 2  # rare ones are kept (duplicates may overwrite a few rows)
    assert counts.idxmax() == "QSO"
    assert abs(counts["QSO"] / len(files.train) - 49680 / 199991) < 0.02


def test_class_counts_sum_to_total_with_a_floor():
    n_dacon = read_profiles().groupby("class")["n_dacon"].first()
    counts = class_counts(n_dacon, 1000, 3)
    assert counts.sum() == 1000
    assert counts.min() >= 3


def test_fiber_ids_in_range_and_both_spectrographs(files):
    fiber = files.train["fiberID"]
    assert fiber.between(1, 1000).all()
    assert (fiber > 640).mean() > 0.05
    qso_boss = (files.train.loc[files.train["type"] == "QSO", "fiberID"] > 640).mean()
    star_boss = (files.train.loc[files.train["type"] == "SPECTROPHOTO_STD", "fiberID"] > 640).mean()
    assert qso_boss > star_boss


def test_wild_outliers_only_in_a_small_share_of_train(files):
    magnitudes = files.train.drop(columns=["id", "type", "fiberID"])
    wild = (magnitudes.abs() > 1000).any(axis=1)
    assert 0 < wild.sum() <= 0.01 * len(files.train)
    assert (magnitudes.abs() > 1e5).any().any()


def test_extendedness_separates_galaxies_from_stars(files):
    train = files.train
    extended = train["psfMag_r"] - train["modelMag_r"]
    galaxy = extended[train["type"] == "GALAXY"].median()
    star = extended[train["type"] == "SPECTROPHOTO_STD"].median()
    assert galaxy > 0.8 and abs(star) < 0.1


def test_noise_grows_with_magnitude(files):
    train = files.train
    stars = train[train["type"].isin(["STAR_RED_DWARF", "QSO"])]
    diff = (stars["psfMag_g"] - stars["fiberMag_g"]).clip(-5, 5)
    bright = diff[stars["modelMag_g"] < 19].std()
    faint = diff[stars["modelMag_g"] > 22].std()
    assert faint > 2 * bright


def test_quantile_curve_passes_through_quantiles_and_is_monotone():
    q = np.array([1.0, 2.0, 2.5, 3.0, 5.0])
    assert np.allclose(quantile_curve(Z_KNOTS, q), q)
    z = np.linspace(-5, 5, 101)
    assert np.all(np.diff(quantile_curve(z, q)) >= 0)


@pytest.mark.skipif(not (SHARED_DACON / "test.csv").exists(), reason="needs ../shared/data/dacon")
def test_quartiles_near_the_real_test_set(files):
    real = pd.read_csv(SHARED_DACON / "test.csv")
    for column in ["psfMag_r", "modelMag_u", "fiberMag_z"]:
        simulated = files.train[column].quantile([0.25, 0.5, 0.75]).to_numpy()
        actual = real[column].quantile([0.25, 0.5, 0.75]).to_numpy()
        assert np.abs(simulated - actual).max() < 0.6


@pytest.mark.skipif(not (SHARED_DACON / "test.csv").exists(), reason="needs ../shared/data/dacon")
def test_headers_equal_the_real_files(files):
    real_test = pd.read_csv(SHARED_DACON / "test.csv", nrows=1)
    real_sample = pd.read_csv(SHARED_DACON / "sample_submission.csv", nrows=1)
    assert list(files.test.columns) == list(real_test.columns)
    assert list(files.sample_submission.columns) == list(real_sample.columns)


def test_test_rows_are_drawn_like_train():
    """The simulated holdout is like-for-like with CV: same class shares, duplicates and outliers."""
    files = simulate(SampleConfig(n_train=4000, n_test=4000, outlier_share=0.01, duplicate_share=0.05))
    train, test = files.train, files.test.assign(type=files.test_labels.to_numpy())
    magnitudes = [c for c in train.columns if "Mag" in c]
    for frame in (train, test):
        wild = (frame[magnitudes].abs() > 1000).any(axis=1).mean()
        copies = frame.duplicated(subset=magnitudes).mean()
        assert 0.005 < wild < 0.02 and 0.03 < copies < 0.06
        assert frame[magnitudes].abs().max().max() > 1e5
    shares = pd.concat(
        [train["type"].value_counts(normalize=True), test["type"].value_counts(normalize=True)], axis=1
    )
    assert (shares.fillna(0).diff(axis=1).iloc[:, 1].abs() < 0.02).all()
    assert not set(map(tuple, train[magnitudes].to_numpy())) & set(map(tuple, test[magnitudes].to_numpy()))
