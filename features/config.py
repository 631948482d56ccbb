"""The features section."""

from __future__ import annotations

from dataclasses import dataclass

from features.families import FAMILY_NAMES
from pipeline.engine.settings import SEED_RANGE, setting


@dataclass(frozen=True)
class FeaturesConfig:
    """Row-wise feature families, each a function in features/families.py: raw, fiber_id, colours
    (adjacent bands), cross_family (psf/fiber/petro - model), row_stats, pairwise (all 190 magnitude
    differences), fluxes (asinh magnitudes as linear f/f0), flux_ratios (adjacent bands and
    family/model), spectrograph (fiberID <= 640). The fitted ones (outlier_clip ... fiber_stats) are
    fitted per fold on the fold's fit rows only (features/fitted.py); 0 / false: off."""

    families: tuple[str, ...] = setting(
        ("raw", "fiber_id", "colours", "cross_family", "row_stats"), choices=FAMILY_NAMES
    )
    outlier_clip: float = setting(
        0.0, "q: clip every feature to the fit rows' [q, 1 - q] quantiles (0.001: 0.1-99.9 %)"
    )
    outlier_drop: float = setting(
        0.0, "q: drop fit rows with any magnitude outside [q, 1 - q] (test rows are never dropped)"
    )
    svd_components: int = setting(0, "TruncatedSVD components of the 20 magnitudes")
    ica_components: int = setting(0, "FastICA components of the 20 magnitudes")
    decomposition_fit: str = setting(
        "fold",
        "fold: fitted on each fold's fit rows | train+test: once on all rows (transductive: it sees the "
        "test rows' magnitudes, never labels)",
        choices=("fold", "train+test"),
    )
    fiber_stats: bool = setting(
        False, "per-fiberID share of rows, mean/std of modelMag_r, row's r - fiber mean"
    )
    seed: int = setting(0)

    RANGES = {
        "outlier_clip": "[0, 0.5)",
        "outlier_drop": "[0, 0.5)",
        "svd_components": "[0, 19]",
        "ica_components": "[0, 20]",
        "seed": SEED_RANGE,
    }
