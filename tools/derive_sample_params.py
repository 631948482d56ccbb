"""Derive the built-in simulator's per-class parameters from Dacon's class profiles.

Reads ``../shared/data/dacon/class_profiles.csv`` (never committed) and writes
``pipeline/data/sample_profiles.csv``: for every class and simulated quantity the 5/25/50/75/95 %
quantiles, the share of BOSS fibres (fiberID > 640) and the class's row count in Dacon's train set.

Source of the profiles: SDSS DR16 as processed by Dacon (competition 235573), CC BY 4.0.
Two classes never appear in the profiles (STAR_PN, SERENDIPITY_MANUAL): their parameters are
written by hand below from their astrophysics, and marked ``source = invented``.

Run: ``python tools/derive_sample_params.py [PROFILES_CSV]``.
"""

from __future__ import annotations

import sys
from math import erf, sqrt
from pathlib import Path

import numpy as np
import pandas as pd

QUANTILE_COLUMNS = ["q05", "q25", "q50", "q75", "q95"]
Z_KNOTS = np.array([-1.6449, -0.6745, 0.0, 0.6745, 1.6449])
BANDS = "ugriz"
BOSS_FIRST_FIBER = 641

# Row counts of Dacon's train.csv (public write-up of the competition).
DACON_TRAIN_COUNTS = {
    "QSO": 49680,
    "GALAXY": 37347,
    "SERENDIPITY_BLUE": 21760,
    "SPECTROPHOTO_STD": 14630,
    "REDDEN_STD": 14618,
    "STAR_RED_DWARF": 13750,
    "STAR_BHB": 13500,
    "SERENDIPITY_FIRST": 7132,
    "ROSAT_D": 6580,
    "STAR_CATY_VAR": 6506,
    "SERENDIPITY_DISTANT": 4654,
    "STAR_CARBON": 3257,
    "SERENDIPITY_RED": 2562,
    "STAR_WHITE_DWARF": 2160,
    "STAR_SUB_DWARF": 1154,
    "STAR_BROWN_DWARF": 500,
    "SKY": 127,
    "SERENDIPITY_MANUAL": 61,
    "STAR_PN": 13,
}

# Hand-written quantiles for the classes absent from the profiles.
# STAR_PN: planetary nebulae, point-like, [OIII] boosts g and H-alpha boosts r (blue g-r, red r-i).
# SERENDIPITY_MANUAL: hand-picked oddities, a broad mix of quasar- and galaxy-like photometry.
INVENTED = {
    "STAR_PN": {
        "modelMag_r": [15.8, 16.9, 17.8, 18.7, 19.8],
        "model_u-g": [-0.6, -0.2, 0.1, 0.4, 0.9],
        "model_g-r": [-1.2, -0.8, -0.5, -0.2, 0.3],
        "model_r-i": [-1.4, -0.9, -0.6, -0.3, 0.1],
        "model_i-z": [-0.5, -0.2, 0.0, 0.2, 0.5],
        "psf-model": [-0.05, 0.0, 0.05, 0.15, 0.45],
        "fiber-model": [0.28, 0.33, 0.37, 0.45, 0.7],
        "petro-model": [-0.2, -0.05, 0.05, 0.15, 0.4],
        "p_boss": 0.05,
    },
    "SERENDIPITY_MANUAL": {
        "modelMag_r": [16.5, 18.0, 19.2, 20.3, 21.6],
        "model_u-g": [-0.3, 0.3, 0.9, 1.7, 3.0],
        "model_g-r": [-0.3, 0.2, 0.6, 1.1, 1.8],
        "model_r-i": [-0.4, 0.1, 0.3, 0.6, 1.4],
        "model_i-z": [-0.4, 0.0, 0.2, 0.4, 0.9],
        "psf-model": [-0.1, 0.02, 0.2, 0.8, 1.9],
        "fiber-model": [0.1, 0.3, 0.45, 0.9, 1.7],
        "petro-model": [-0.5, -0.1, 0.05, 0.2, 0.6],
        "p_boss": 0.2,
    },
}


def quantity_names() -> list[str]:
    """Every simulated quantity: r magnitude, 4 colours, 3 aperture offsets in 5 bands."""
    colours = [f"model_{a}-{b}" for a, b in zip(BANDS, BANDS[1:])]
    offsets = [f"{family}-model_{band}" for family in ("psf", "fiber", "petro") for band in BANDS]
    return ["modelMag_r", *colours, *offsets]


def boss_share(fiber_quantiles: np.ndarray) -> float:
    """P(fiberID >= 641), reading the quantiles as a piecewise-linear function of a normal score."""
    if BOSS_FIRST_FIBER <= fiber_quantiles[-1]:
        z = float(np.interp(BOSS_FIRST_FIBER, fiber_quantiles, Z_KNOTS))
    else:
        slope = (Z_KNOTS[-1] - Z_KNOTS[-2]) / (fiber_quantiles[-1] - fiber_quantiles[-2])
        z = Z_KNOTS[-1] + slope * (BOSS_FIRST_FIBER - fiber_quantiles[-1])
    return float(0.5 * (1.0 - erf(z / sqrt(2.0))))


def derive_class(profile: pd.DataFrame) -> dict[str, list[float]]:
    """Quantiles of every simulated quantity for one class, from its profile rows."""
    q = profile.set_index("feature")[QUANTILE_COLUMNS]
    out = {"modelMag_r": q.loc["modelMag_r"].tolist()}
    for a, b in zip(BANDS, BANDS[1:]):
        out[f"model_{a}-{b}"] = q.loc[f"modelMag_{a}-{b}"].tolist()
    for band in BANDS:
        out[f"psf-model_{band}"] = q.loc[f"psf-model_{band}"].tolist()
        out[f"fiber-model_{band}"] = q.loc[f"fiber-model_{band}"].tolist()
        psf = q.loc[f"psf-model_{band}"].to_numpy()
        centre = q.loc[f"petroMag_{band}", "q50"] - q.loc[f"modelMag_{band}", "q50"]
        out[f"petro-model_{band}"] = (centre + 1.2 * (psf - psf[2])).tolist()
    return out


def invented_class(spec: dict) -> dict[str, list[float]]:
    """Expand a hand-written spec (one offset row for all bands) to every quantity."""
    out = {}
    for name in quantity_names():
        key = name if name in spec else name.rsplit("_", 1)[0]
        out[name] = list(spec[key])
    return out


def to_rows(cls: str, quantiles: dict, p_boss: float, source: str) -> list[dict]:
    """Long-format rows of the committed parameter table for one class."""
    base = {"class": cls, "n_dacon": DACON_TRAIN_COUNTS[cls], "p_boss": round(p_boss, 4), "source": source}
    return [
        {
            **base,
            "quantity": name,
            **{c: round(float(v), 4) for c, v in zip(QUANTILE_COLUMNS, quantiles[name])},
        }
        for name in quantity_names()
    ]


def derive(profiles: pd.DataFrame) -> pd.DataFrame:
    """The full parameter table, one row per (class, quantity)."""
    rows = []
    for cls in DACON_TRAIN_COUNTS:
        if cls in INVENTED:
            spec = INVENTED[cls]
            rows += to_rows(cls, invented_class(spec), spec["p_boss"], "invented")
            continue
        profile = profiles[profiles["class"] == cls]
        fibers = profile.set_index("feature").loc["fiberID", QUANTILE_COLUMNS].to_numpy(float)
        rows += to_rows(
            cls, derive_class(profile), boss_share(fibers), f"profiles (n={profile['n'].iloc[0]})"
        )
    return pd.DataFrame(rows)


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared/data/dacon/class_profiles.csv"
    table = derive(pd.read_csv(source))
    target = root / "pipeline" / "data" / "sample_profiles.csv"
    header = (
        "# Derived from Dacon's per-class profiles of SDSS DR16 photometry (CC BY 4.0) by "
        "tools/derive_sample_params.py; rows with source=invented are hand-written.\n"
    )
    target.write_text(header + table.to_csv(index=False))
    print(f"wrote {target}: {len(table)} rows, {table['class'].nunique()} classes")


if __name__ == "__main__":
    main()
