"""A holdout for real data: a stratified share of the train rows, reserved before the folds are made.

Nothing is fitted on the reserved rows: not a model, a scaler, an importance, a tuning trial or a
blend weight. They travel beside the test rows (``Dataset.holdout``); every model predicts them as it
predicts test, with the mean of its fold models, so their log loss is what a submission would score
on rows drawn like train. Duplicate groups are reserved whole (copies count as one object).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.data.loading import Dataset
from pipeline.engine.codehash import code_hash
from pipeline.engine.settings import section_fingerprint
from pipeline.validation.config import HoldoutConfig
from pipeline.validation.cv import inner_split
from pipeline.validation.folds import duplicate_groups
from pipeline.validation.metrics import row_log_loss
from pipeline.validation.paired import PairedRows, paired_difference


def split_holdout(data: Dataset, cfg: HoldoutConfig) -> Dataset:
    """The dataset with ``cfg.share`` of its train rows moved to ``holdout`` (features and labels)."""
    if cfg.share <= 0:
        return data
    groups = duplicate_groups(data.train.loc[data.labels.index])
    _, positions = inner_split(data.labels.to_numpy(), cfg.share, cfg.seed, groups)  # whole groups, by class
    held = data.labels.index[positions]
    kept = data.labels.index.difference(held, sort=False)
    return dataclasses.replace(
        data,
        train=data.train.loc[kept],
        labels=data.labels.loc[kept],
        holdout=data.train.loc[held],
        holdout_labels=data.labels.loc[held],
    )


class HoldoutSource:
    """A data source with a share of its train rows reserved (its fingerprint covers the split)."""

    def __init__(self, inner, cfg: HoldoutConfig):
        self.inner, self.cfg = inner, cfg
        self.kind = inner.kind

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.inner.fingerprint().encode())
        digest.update(section_fingerprint(self.cfg).encode())
        digest.update(code_hash(split_holdout).encode())
        return digest.hexdigest()

    def load(self) -> Dataset:
        return split_holdout(self.inner.load(), self.cfg)

    def headline(self) -> str:
        return f"{self.inner.headline()}, {self.cfg.share:.0%} of train reserved as a holdout"

    def banner(self) -> str:
        return (
            f"{self.inner.banner()}\nHoldout: {self.cfg.share:.0%} of the train rows (seed {self.cfg.seed}) "
            "reserved before the folds; nothing is fitted on them."
        )


def with_holdout(source, cfg: HoldoutConfig):
    """``source`` itself when no rows are reserved (its cache keys unchanged), else wrapped."""
    return source if cfg.share <= 0 else HoldoutSource(source, cfg)


@dataclass(frozen=True)
class HoldoutVerdict:
    """One model against the run's best by OOF: both differences (model minus best; positive: the best
    is better) and whether the holdout confirms the OOF order."""

    model: str
    reference: str
    oof_score: float
    holdout_score: float
    oof_difference: str
    holdout_difference: str
    verdict: str

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


VERDICTS = {
    "better": "holdout reverses the OOF order",
    "worse": "holdout confirms the OOF order",
    "within noise": "holdout: within noise",
    "too few rows": "holdout: too few rows for a verdict",
}


def holdout_verdicts(results: list, labels: pd.Series, groups: np.ndarray) -> list[HoldoutVerdict]:
    """Each model with holdout predictions against the best of them by OOF log loss: the paired
    difference on the holdout rows (bootstrap over duplicate groups within class), and the verdict."""
    scored = [r for r in results if r.holdout_proba is not None]
    if len(scored) < 2:
        return []
    best = min(scored, key=lambda r: r.oof_score)
    y = labels.to_numpy()
    loss_best = row_log_loss(y, best.holdout_proba.loc[labels.index].to_numpy())
    verdicts = []
    for result in scored:
        if result is best:
            continue
        loss = row_log_loss(y, result.holdout_proba.loc[labels.index].to_numpy())
        difference = paired_difference(PairedRows(loss_best, loss, y, np.zeros(len(y), dtype=int), groups))
        verdicts.append(
            HoldoutVerdict(
                model=result.name,
                reference=best.name,
                oof_score=result.oof_score,
                holdout_score=float(loss.mean()),
                oof_difference=f"{result.oof_score - best.oof_score:+.4f}",
                holdout_difference=difference.describe(),
                verdict=VERDICTS[difference.verdict()],
            )
        )
    return verdicts


def holdout_groups(data: Dataset) -> np.ndarray:
    """The duplicate group of each holdout row (the unit the bootstrap resamples)."""
    return duplicate_groups(data.holdout.loc[data.holdout_labels.index])
