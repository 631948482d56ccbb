import numpy as np
import pandas as pd
import pytest

from features.families import FAMILIES, adjacent_colours, cross_family_differences, row_statistics
from features.table import build_features, feature_frame
from pipeline.config import FeaturesConfig
from pipeline.schema import MAGNITUDE_COLUMNS


@pytest.fixture
def raw(tiny_data):
    return tiny_data.train.iloc[:50]


def test_every_family_is_row_wise_and_keeps_the_index(raw):
    for name, function in FAMILIES.items():
        whole = function(raw)
        part = function(raw.iloc[10:20])
        assert whole.index.equals(raw.index), name
        pd.testing.assert_frame_equal(whole.iloc[10:20], part, check_names=False)


def test_colours_are_adjacent_band_differences(raw):
    colours = adjacent_colours(raw)
    assert colours.shape[1] == 16
    assert np.allclose(colours["psfMag_u-g"], raw["psfMag_u"] - raw["psfMag_g"])
    assert np.allclose(colours["modelMag_i-z"], raw["modelMag_i"] - raw["modelMag_z"])


def test_cross_family_differences_per_band(raw):
    diffs = cross_family_differences(raw)
    assert diffs.shape[1] == 15
    assert np.allclose(diffs["petro-model_r"], raw["petroMag_r"] - raw["modelMag_r"])


def test_row_statistics_per_family(raw):
    stats = row_statistics(raw)
    bands = raw[["fiberMag_u", "fiberMag_g", "fiberMag_r", "fiberMag_i", "fiberMag_z"]]
    assert np.allclose(stats["fiberMag_max"], bands.max(axis=1))
    assert np.allclose(stats["fiberMag_range"], bands.max(axis=1) - bands.min(axis=1))
    assert np.allclose(stats["fiberMag_std"], bands.std(axis=1, ddof=0))
    assert np.allclose(stats["fiberMag_sum"], bands.sum(axis=1))


def test_feature_table_selects_families_and_is_float32(tiny_data):
    table = build_features(tiny_data, FeaturesConfig(families=("raw", "colours")))
    assert table.names == [*MAGNITUDE_COLUMNS, *adjacent_colours(tiny_data.train.iloc[:1]).columns]
    assert (table.train.dtypes == np.float32).all()
    assert list(table.test.columns) == table.names
    assert table.test.index.equals(tiny_data.test.index)


def test_wild_magnitudes_give_finite_features(tiny_data):
    frame = tiny_data.train.iloc[:5].copy()
    frame.iloc[0, 1:] = -5_310_802.0
    frame.iloc[1, 3] = 1e6
    table = feature_frame(frame, tuple(FAMILIES))
    assert np.isfinite(table.to_numpy()).all()
