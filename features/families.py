"""Feature families: row-wise functions of the raw columns (no fitting, so no leakage across rows)."""

from __future__ import annotations

from typing import Callable

import pandas as pd

from pipeline.schema import BANDS, MAGNITUDE_COLUMNS, MAGNITUDE_FAMILIES

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


FAMILY_NAMES = tuple(FAMILIES)
