"""The data section: the built-in simulated sample of Dacon's schema."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.engine.settings import SEED_RANGE, setting


@dataclass(frozen=True)
class SampleConfig:
    """The built-in simulated sample of Dacon's schema (used when no real data is given)."""

    n_train: int = setting(30_000, "train rows; 200000 for Dacon's scale")
    n_test: int = setting(3_000, "test rows")
    seed: int = setting(2020)
    min_rows_per_class: int = setting(4, "rare classes (STAR_PN: 13 of 199,991 rows) keep at least this many")
    confusion: float = setting(
        0.04, "share of each class that takes another class's photometry (class overlap)"
    )
    outlier_share: float = setting(0.001, "share of train rows with wild magnitudes (test: half, milder)")
    duplicate_share: float = setting(
        0.0175, "share of train rows duplicating another row (Dacon: about 3,500)"
    )

    RANGES = {
        "n_train": "[200, 10000000]",
        "n_test": "[1, 10000000]",
        "seed": SEED_RANGE,
        "min_rows_per_class": "[2, 1000]",
        "confusion": "[0, 0.5]",
        "outlier_share": "[0, 0.5]",
        "duplicate_share": "[0, 0.5]",
    }
