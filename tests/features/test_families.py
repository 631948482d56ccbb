import numpy as np
import pandas as pd
import pytest

from features.config import FeaturesConfig
from features.families import (
    FAMILIES,
    SOFTENING,
    adjacent_colours,
    asinh_flux,
    cross_family_differences,
    row_statistics,
)
from features.table import build_features, feature_frame
from pipeline.data.schema import MAGNITUDE_COLUMNS


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


def test_pairwise_differences_are_all_190_pairs(raw):
    diffs = FAMILIES["pairwise"](raw)
    assert diffs.shape[1] == 190 and diffs.columns.is_unique
    assert np.allclose(diffs["psfMag_u-modelMag_z"], raw["psfMag_u"] - raw["modelMag_z"])
    assert np.allclose(diffs["fiberMag_g-fiberMag_r"], raw["fiberMag_g"] - raw["fiberMag_r"])


def test_asinh_flux_inverts_the_sdss_luptitude():
    magnitudes = np.array([14.0, 20.0, 24.0, 26.5, 30.0])
    for band, b in SOFTENING.items():
        flux = asinh_flux(magnitudes, band)
        back = -(2.5 / np.log(10)) * (np.arcsinh(flux / (2 * b)) + np.log(b))
        assert np.allclose(back, magnitudes)
    # bright objects: the asinh magnitude agrees with Pogson's 10**(-0.4 m)
    assert asinh_flux(np.array([15.0]), "r")[0] == pytest.approx(10 ** (-0.4 * 15.0), rel=1e-6)
    assert asinh_flux(np.array([40.0]), "u")[0] < 0  # fainter than zero flux: negative, as in SDSS


def test_fluxes_and_ratios_stay_finite_on_wild_magnitudes(raw):
    wild = raw.copy()
    wild.loc[wild.index[0], list(MAGNITUDE_COLUMNS)] = -5_310_802.0
    wild.loc[wild.index[1], list(MAGNITUDE_COLUMNS)] = 1e6
    for name in ("fluxes", "flux_ratios"):
        table = FAMILIES[name](wild)
        assert np.isfinite(table.to_numpy(np.float32)).all(), name
    assert FAMILIES["fluxes"](raw).shape[1] == 20 and FAMILIES["flux_ratios"](raw).shape[1] == 31


def test_flux_ratio_of_bright_objects_is_the_pogson_colour(raw):
    ratios = FAMILIES["flux_ratios"](raw)
    bright = (raw["psfMag_g"] < 20) & (raw["psfMag_r"] < 20)
    expected = 10 ** (-0.4 * (raw["psfMag_g"] - raw["psfMag_r"]))
    assert np.allclose(ratios.loc[bright, "fluxratio_psfMag_g/r"], expected[bright], rtol=1e-3)


def test_spectrograph_split_at_fiber_640(raw):
    split = FAMILIES["spectrograph"](raw)["sdss_fiber"]
    assert ((split == 1) == (raw["fiberID"] <= 640)).all()


def test_overlapping_families_with_the_same_column_names_are_refused(raw):
    from pipeline.engine.errors import ConfigError

    with pytest.raises(ConfigError, match="twice"):
        feature_frame(raw, ("raw", "raw"))
