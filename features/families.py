"""Feature families: row-wise functions of the raw columns (no fitting, so no leakage across rows).

Families fitted on data (decompositions, per-fiber statistics, outlier bounds) live in
``features/fitted.py`` and are fitted inside each fold.
"""

from __future__ import annotations

from itertools import combinations
from typing import Callable

import numpy as np
import pandas as pd

from pipeline.data.schema import BANDS, MAGNITUDE_COLUMNS, MAGNITUDE_FAMILIES

FamilyFunction = Callable[[pd.DataFrame], pd.DataFrame]
FAMILIES: dict[str, FamilyFunction] = {}


def family(name: str) -> Callable[[FamilyFunction], FamilyFunction]:
    """Register a feature family under the name the config uses."""

    def register(function: FamilyFunction) -> FamilyFunction:
        FAMILIES[name] = function
        return function

    return register


@family("raw")
def raw_magnitudes(frame: pd.DataFrame) -> pd.DataFrame:
    """The 20 magnitudes as given (wild outliers included: trees split around them)."""
    return frame[list(MAGNITUDE_COLUMNS)]


@family("fiber_id")
def fiber_id(frame: pd.DataFrame) -> pd.DataFrame:
    """fiberID as a number (1..640 SDSS spectrograph, 641..1000 BOSS)."""
    return frame[["fiberID"]]


@family("colours")
def adjacent_colours(frame: pd.DataFrame) -> pd.DataFrame:
    """Adjacent-band colours (u-g, g-r, r-i, i-z) within each magnitude family."""
    return pd.DataFrame(
        {
            f"{fam}_{a}-{b}": frame[f"{fam}_{a}"] - frame[f"{fam}_{b}"]
            for fam in MAGNITUDE_FAMILIES
            for a, b in zip(BANDS, BANDS[1:])
        },
        index=frame.index,
    )


@family("cross_family")
def cross_family_differences(frame: pd.DataFrame) -> pd.DataFrame:
    """psf, fiber and petro minus model magnitude per band: how extended an object looks."""
    return pd.DataFrame(
        {
            f"{fam}-model_{band}": frame[f"{fam}Mag_{band}"] - frame[f"modelMag_{band}"]
            for fam in ("psf", "fiber", "petro")
            for band in BANDS
        },
        index=frame.index,
    )


@family("row_stats")
def row_statistics(frame: pd.DataFrame) -> pd.DataFrame:
    """Max, min, range, std and sum over the five bands of each magnitude family."""
    columns = {}
    for fam in MAGNITUDE_FAMILIES:
        values = frame[[f"{fam}_{band}" for band in BANDS]].to_numpy(dtype="float64")
        columns[f"{fam}_max"] = values.max(axis=1)
        columns[f"{fam}_min"] = values.min(axis=1)
        columns[f"{fam}_range"] = columns[f"{fam}_max"] - columns[f"{fam}_min"]
        columns[f"{fam}_std"] = values.std(axis=1)
        columns[f"{fam}_sum"] = values.sum(axis=1)
    return pd.DataFrame(columns, index=frame.index)


@family("pairwise")
def pairwise_differences(frame: pd.DataFrame) -> pd.DataFrame:
    """All 190 differences between the 20 magnitudes (every colour of every family pair)."""
    values = frame[list(MAGNITUDE_COLUMNS)].to_numpy(dtype="float64")
    pairs = list(combinations(range(len(MAGNITUDE_COLUMNS)), 2))
    left, right = zip(*pairs)
    names = [f"{MAGNITUDE_COLUMNS[a]}-{MAGNITUDE_COLUMNS[b]}" for a, b in pairs]
    return pd.DataFrame(values[:, left] - values[:, right], index=frame.index, columns=names)


@family("spectrograph")
def spectrograph(frame: pd.DataFrame) -> pd.DataFrame:
    """1 for fibres 1..640 (the original SDSS spectrographs), 0 for 641..1000 (BOSS only)."""
    return pd.DataFrame({"sdss_fiber": (frame["fiberID"] <= 640).astype("float64")}, index=frame.index)


# SDSS asinh softening parameters b per band (Lupton, Gunn & Szalay 1999; SDSS DR16 "magnitudes").
SOFTENING = {"u": 1.4e-10, "g": 0.9e-10, "r": 1.2e-10, "i": 1.8e-10, "z": 7.4e-10}
ASINH_SCALE = np.log(10) / 2.5
MAX_SINH_ARGUMENT = 60.0  # keeps wild magnitudes (-5,310,802) finite: |f/f0| <= 2b sinh(60)
RATIO_FLOOR = 1e-15  # |denominator| below this is replaced by +-RATIO_FLOOR


def asinh_flux(magnitude: np.ndarray, band: str) -> np.ndarray:
    """Linear flux f/f0 of an SDSS asinh magnitude ("luptitude"): 2b sinh(-(ln 10 / 2.5) m - ln b).

    SDSS catalogue magnitudes are asinh magnitudes, so this inverts them exactly, negative fluxes
    of faint objects included. Do not use the formula that circulated among competitors: it takes
    b ten times too large, uses the zero-flux magnitudes as f0 and divides magnitudes as if they
    were fluxes; none of that is a flux.
    """
    b = SOFTENING[band]
    argument = np.clip(-ASINH_SCALE * magnitude - np.log(b), -MAX_SINH_ARGUMENT, MAX_SINH_ARGUMENT)
    return 2.0 * b * np.sinh(argument)


def safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, with denominators near zero held at +-RATIO_FLOOR (always finite)."""
    small = np.abs(denominator) < RATIO_FLOOR
    return numerator / np.where(small, np.where(denominator < 0, -RATIO_FLOOR, RATIO_FLOOR), denominator)


def family_fluxes(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """f/f0 of each of the 20 magnitudes, keyed by its column name."""
    return {
        f"{fam}_{band}": asinh_flux(frame[f"{fam}_{band}"].to_numpy(dtype="float64"), band)
        for fam in MAGNITUDE_FAMILIES
        for band in BANDS
    }


@family("fluxes")
def linear_fluxes(frame: pd.DataFrame) -> pd.DataFrame:
    """The 20 magnitudes as linear fluxes f/f0 (see ``asinh_flux``)."""
    return pd.DataFrame(
        {f"flux_{name}": flux for name, flux in family_fluxes(frame).items()}, index=frame.index
    )


@family("flux_ratios")
def flux_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Flux ratios of adjacent bands within each family (16) and of each family to model per band (15)."""
    flux = family_fluxes(frame)
    columns = {
        f"fluxratio_{fam}_{a}/{b}": safe_ratio(flux[f"{fam}_{a}"], flux[f"{fam}_{b}"])
        for fam in MAGNITUDE_FAMILIES
        for a, b in zip(BANDS, BANDS[1:])
    }
    for fam in ("psfMag", "fiberMag", "petroMag"):
        for band in BANDS:
            columns[f"fluxratio_{fam}/model_{band}"] = safe_ratio(
                flux[f"{fam}_{band}"], flux[f"modelMag_{band}"]
            )
    return pd.DataFrame(columns, index=frame.index)


FAMILY_NAMES = tuple(FAMILIES)
