"""The folds and holdout sections."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.engine.settings import SEED_RANGE, setting

MAX_HOLDOUT_SHARE = 0.5


@dataclass(frozen=True)
class FoldsConfig:
    """Stratified K-fold split shared by every model; duplicated photometry kept within one fold."""

    n_splits: int = setting(5)
    seed: int = setting(42)
    RANGES = {"n_splits": "[2, 50]", "seed": SEED_RANGE}

    group_duplicates: bool = setting(
        True,
        "Rows with identical photometry (the 20 magnitudes; fiberID may differ: the same object on another "
        "fibre) form a group that every split keeps on one side: outer folds, early-stopping and "
        "importance rows. false: copies may sit on both sides, and every score is labelled optimistic.",
    )


@dataclass(frozen=True)
class HoldoutConfig:
    """Train rows reserved before the folds (stratified by class, duplicate groups whole), scored by
    every model, blend and the submission pipeline beside their OOF score."""

    share: float = setting(
        0.0, f"share of train rows reserved (0: none; at most {MAX_HOLDOUT_SHARE}); --holdout SHARE"
    )
    seed: int = setting(0)

    RANGES = {"share": f"[0, {MAX_HOLDOUT_SHARE}]", "seed": SEED_RANGE}
