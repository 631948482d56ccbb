"""Built-in simulated sample of Dacon's schema: plausible SDSS photometry for the 19 classes.

Each class's quantities (r magnitude, four colours, psf/fiber/petro minus model offsets in each band)
are drawn from per-class quantiles derived from Dacon's class profiles (``sample_profiles.csv``),
through a Gaussian copula so colours and aperture offsets stay correlated within an object. A share
of each class (``confusion``) takes the photometry of another class, as SDSS targeting categories
do (a ROSAT source may be a quasar or a star), so classes overlap as the real ones do. Photometric
noise grows with magnitude, fibres follow the SDSS (1..640) / BOSS (641..1000) split, and a small
share of rows carries wild magnitudes like the real train (-5,310,802).

The test rows (whose labels only a simulation knows) are drawn by the same process as train: the
same class shares (rare-class floors included), duplicates and wild outliers, drawn independently of
train. Scored on them, a submission gives a holdout figure like-for-like with the cross-validated one.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.data.schema import BANDS, DACON_CLASS_ORDER, FEATURE_COLUMNS, ID_COLUMN, TARGET_COLUMN

if TYPE_CHECKING:
    from pipeline.data.config import SampleConfig

PROFILES_PATH = Path(__file__).with_name("sample_profiles.csv")
QUANTILE_COLUMNS = ["q05", "q25", "q50", "q75", "q95"]
Z_KNOTS = np.array([-1.6449, -0.6745, 0.0, 0.6745, 1.6449])
COLOUR_NAMES = [f"model_{a}-{b}" for a, b in zip(BANDS, BANDS[1:])]
OFFSET_FAMILIES = ("psf", "fiber", "petro")
# SDSS 95 % completeness limits per band: the noise is about 0.2 mag there.
LIMITING_MAGNITUDE = {"u": 22.0, "g": 22.2, "r": 22.2, "i": 21.3, "z": 20.5}
NOISE_AT_LIMIT = 0.2
NOISE_FLOOR = 0.01
NOISE_CAP = 1.5
PETRO_NOISE_FACTOR = 1.5
WILD_LOG10_RANGE = (1.5, 6.8)  # |wild magnitude| from about 30 to 6e6, as the real train's
COLOUR_CORRELATION = 0.4
OFFSET_CORRELATION = 0.8


@dataclass(frozen=True)
class SimulatedFiles:
    """The simulated sample as Dacon's three files, plus the test labels only a simulation knows."""

    train: pd.DataFrame
    test: pd.DataFrame
    sample_submission: pd.DataFrame
    test_labels: pd.Series


def read_profiles(path: Path = PROFILES_PATH) -> pd.DataFrame:
    """The committed per-class parameter table."""
    return pd.read_csv(io.StringIO(path.read_text(encoding="utf-8")), comment="#")


def class_counts(n_dacon: pd.Series, total: int, minimum: int) -> pd.Series:
    """Rows per class in Dacon's proportions (largest remainder), each class at least ``minimum``."""
    share = n_dacon / n_dacon.sum() * total
    counts = np.maximum(np.floor(share).astype(int), minimum)
    remainder = (share - np.floor(share)).sort_values(ascending=False)
    for cls in remainder.index:
        if counts.sum() >= total:
            break
        counts[cls] += 1
    counts[counts.idxmax()] -= counts.sum() - total
    return counts


def quantile_curve(z: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Map normal scores to values: piecewise linear through the quantiles, linear tails."""
    out = np.interp(z, Z_KNOTS, quantiles)
    low_slope = (quantiles[1] - quantiles[0]) / (Z_KNOTS[1] - Z_KNOTS[0])
    high_slope = (quantiles[-1] - quantiles[-2]) / (Z_KNOTS[-1] - Z_KNOTS[-2])
    out = np.where(z < Z_KNOTS[0], quantiles[0] + (z - Z_KNOTS[0]) * low_slope, out)
    return np.where(z > Z_KNOTS[-1], quantiles[-1] + (z - Z_KNOTS[-1]) * high_slope, out)


def copula_scores(
    rng: np.random.Generator, n: int, n_offsets: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correlated normal scores: magnitude, colours (shared factor), offsets (shared factor)."""
    magnitude = rng.standard_normal(n)
    colour_factor = rng.standard_normal((n, 1))
    colours = np.sqrt(COLOUR_CORRELATION) * colour_factor + np.sqrt(
        1 - COLOUR_CORRELATION
    ) * rng.standard_normal((n, len(COLOUR_NAMES)))
    offset_factor = rng.standard_normal((n, 1))
    offsets = np.sqrt(OFFSET_CORRELATION) * offset_factor + np.sqrt(
        1 - OFFSET_CORRELATION
    ) * rng.standard_normal((n, n_offsets))
    return magnitude, colours, offsets


def appearance_classes(
    rng: np.random.Generator, labels: np.ndarray, weights: pd.Series, confusion: float
) -> np.ndarray:
    """The class whose photometry each row takes: its own, or with prob. ``confusion`` another one."""
    classes = weights.index.to_numpy()
    look = labels.copy()
    swap = np.flatnonzero(rng.random(len(labels)) < confusion)
    probabilities = (weights / weights.sum()).to_numpy()
    for row in swap:
        p = np.where(classes == labels[row], 0.0, probabilities)
        look[row] = rng.choice(classes, p=p / p.sum())
    return look


def true_photometry(
    rng: np.random.Generator, look: np.ndarray, profiles: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Noise-free model magnitudes and aperture offsets of every row, by its appearance class."""
    offset_names = [f"{family}-model_{band}" for family in OFFSET_FAMILIES for band in BANDS]
    magnitude_z, colour_z, offset_z = copula_scores(rng, len(look), len(offset_names))
    names = ["modelMag_r", *COLOUR_NAMES, *offset_names]
    scores = np.column_stack([magnitude_z, colour_z, offset_z])
    values = {name: np.empty(len(look)) for name in names}
    table = profiles.set_index(["class", "quantity"])[QUANTILE_COLUMNS]
    for cls in np.unique(look):
        rows = look == cls
        for j, name in enumerate(names):
            values[name][rows] = quantile_curve(scores[rows, j], table.loc[(cls, name)].to_numpy(float))
    return values


def magnitudes_from(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The four magnitude families in the five bands from r, colours and offsets."""
    model = {"r": values["modelMag_r"]}
    model["g"] = model["r"] + values["model_g-r"]
    model["u"] = model["g"] + values["model_u-g"]
    model["i"] = model["r"] - values["model_r-i"]
    model["z"] = model["i"] - values["model_i-z"]
    out = {f"modelMag_{band}": model[band] for band in BANDS}
    for family in OFFSET_FAMILIES:
        for band in BANDS:
            out[f"{family}Mag_{band}"] = model[band] + values[f"{family}-model_{band}"]
    return out


def photometric_noise(rng: np.random.Generator, magnitudes: dict[str, np.ndarray]) -> None:
    """Add measurement noise that grows with magnitude (in place), larger for petro magnitudes."""
    for name, values in magnitudes.items():
        band = name[-1]
        sigma = NOISE_FLOOR + NOISE_AT_LIMIT * 10 ** (
            0.4 * (np.clip(values, None, 30) - LIMITING_MAGNITUDE[band])
        )
        sigma = np.minimum(sigma, NOISE_CAP) * (PETRO_NOISE_FACTOR if name.startswith("petro") else 1.0)
        values += sigma * rng.standard_normal(len(values))


def fiber_ids(rng: np.random.Generator, look: np.ndarray, p_boss: pd.Series) -> np.ndarray:
    """fiberID 1..640 (SDSS spectrograph) or 641..1000 (BOSS), by the class's BOSS share."""
    boss = rng.random(len(look)) < p_boss.loc[look].to_numpy()
    return np.where(boss, rng.integers(641, 1001, len(look)), rng.integers(1, 641, len(look)))


def add_duplicates(rng: np.random.Generator, frame: pd.DataFrame, share: float) -> None:
    """Overwrite a share of rows with copies of other rows (features and label), in place."""
    n = len(frame)
    targets = rng.choice(n, size=int(round(share * n)), replace=False)
    sources = rng.integers(0, n, len(targets))
    columns = [TARGET_COLUMN, *FEATURE_COLUMNS]
    frame.iloc[targets, [frame.columns.get_loc(c) for c in columns]] = frame.iloc[sources][columns].to_numpy()


def add_outliers(
    rng: np.random.Generator, frame: pd.DataFrame, share: float, log10_range: tuple[float, float]
) -> None:
    """Replace 1-3 magnitudes of a share of rows by wild values (both signs), in place."""
    magnitude_columns = [c for c in FEATURE_COLUMNS if c != "fiberID"]
    for row in rng.choice(len(frame), size=int(round(share * len(frame))), replace=False):
        columns = rng.choice(magnitude_columns, size=rng.integers(1, 4), replace=False)
        values = rng.choice([-1.0, 1.0], len(columns)) * 10 ** rng.uniform(*log10_range, len(columns))
        frame.iloc[row, [frame.columns.get_loc(c) for c in columns]] = values


def simulate_rows(
    rng: np.random.Generator, labels: np.ndarray, profiles: pd.DataFrame, cfg: SampleConfig
) -> pd.DataFrame:
    """Dacon-format rows (type + features) for the given labels."""
    per_class = profiles.groupby("class").first()
    look = appearance_classes(rng, labels, per_class["n_dacon"], cfg.confusion)
    magnitudes = magnitudes_from(true_photometry(rng, look, profiles))
    photometric_noise(rng, magnitudes)
    frame = pd.DataFrame({TARGET_COLUMN: labels, "fiberID": fiber_ids(rng, look, per_class["p_boss"])})
    for column in FEATURE_COLUMNS[1:]:
        frame[column] = magnitudes[column]
    return frame


def shuffled_labels(rng: np.random.Generator, counts: pd.Series) -> np.ndarray:
    """Class labels with the given counts, in random order."""
    labels = np.repeat(counts.index.to_numpy(), counts.to_numpy())
    return labels[rng.permutation(len(labels))]


def simulate(cfg: SampleConfig, profiles: pd.DataFrame | None = None) -> SimulatedFiles:
    """The simulated train, test and sample submission, deterministic for ``cfg``."""
    profiles = read_profiles() if profiles is None else profiles
    train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(2))
    n_dacon = profiles.groupby("class")["n_dacon"].first()
    train_counts = class_counts(n_dacon, cfg.n_train, cfg.min_rows_per_class)
    test_counts = class_counts(train_counts, cfg.n_test, 0)  # train's class shares, floors included
    parts = []
    for rng, counts in ((train_rng, train_counts), (test_rng, test_counts)):
        frame = simulate_rows(rng, shuffled_labels(rng, counts), profiles, cfg)
        add_duplicates(rng, frame, cfg.duplicate_share)
        add_outliers(rng, frame, cfg.outlier_share, WILD_LOG10_RANGE)
        parts.append(frame)
    train, test = parts
    train.insert(0, ID_COLUMN, np.arange(cfg.n_train))
    test.insert(0, ID_COLUMN, np.arange(cfg.n_train, cfg.n_train + cfg.n_test))
    test_labels = test.pop(TARGET_COLUMN).set_axis(test[ID_COLUMN].to_numpy()).rename_axis(ID_COLUMN)
    sample = pd.DataFrame(0.0, index=range(cfg.n_test), columns=list(DACON_CLASS_ORDER))
    sample.insert(0, ID_COLUMN, test[ID_COLUMN].to_numpy())
    return SimulatedFiles(train=train, test=test, sample_submission=sample, test_labels=test_labels)
