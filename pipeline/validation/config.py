"""The folds section."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.engine.settings import setting


@dataclass(frozen=True)
class FoldsConfig:
    """Stratified K-fold split shared by every model; duplicated photometry kept within one fold."""

    n_splits: int = setting(5)
    seed: int = setting(42)
    group_duplicates: bool = setting(
        True,
        "Rows with identical photometry (the 20 magnitudes; fiberID may differ: the same object on another "
        "fibre) form a group that every split keeps on one side: outer folds, early-stopping and "
        "importance rows. false: copies may sit on both sides, and every score is labelled optimistic.",
    )
