"""The submission stage: the blend's test probabilities in the sample submission's exact format."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.data.schema import ID_COLUMN
from pipeline.validation.metrics import row_log_loss

if TYPE_CHECKING:
    from pipeline.data.loading import Dataset
    from pipeline.stages.config import SubmissionConfig
    from pipeline.validation.cv import ModelResult


def clip_and_normalise(proba: np.ndarray, clip: float) -> np.ndarray:
    """Keep every probability at least ``clip`` (log loss punishes zeros) and rows summing to 1."""
    proba = np.clip(proba, clip, 1.0)
    return proba / proba.sum(axis=1, keepdims=True)


def check_submission(submission: pd.DataFrame, data: Dataset) -> None:
    """Columns, row order, finiteness and row sums as Dacon expects; raises ValueError otherwise."""
    expected_columns = [ID_COLUMN, *data.classes]
    if list(submission.columns) != expected_columns:
        raise ValueError(
            f"submission columns {list(submission.columns)[:4]}... differ from the sample submission's"
        )
    if not np.array_equal(submission[ID_COLUMN].to_numpy(), data.test.index.to_numpy()):
        raise ValueError("submission ids differ from the sample submission's ids or their order")
    proba = submission[list(data.classes)].to_numpy()
    if not np.isfinite(proba).all():
        raise ValueError("submission holds NaN or infinite probabilities")
    if not np.allclose(proba.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("submission rows do not sum to 1")


def make_submission(data: Dataset, blend: ModelResult, cfg: SubmissionConfig) -> pd.DataFrame:
    """id plus the 19 class probabilities, in the sample submission's column and row order."""
    proba = clip_and_normalise(blend.test_proba.loc[data.test.index, list(data.classes)].to_numpy(), cfg.clip)
    submission = pd.DataFrame(proba, columns=list(data.classes))
    submission.insert(0, ID_COLUMN, data.test.index.to_numpy())
    check_submission(submission, data)
    return submission


def holdout_score(submission: pd.DataFrame, data: Dataset) -> dict | None:
    """The submission's log loss on test labels (only a simulation has them) with its standard error
    over rows; None when the data has no test labels."""
    if data.test_labels is None:
        return None
    labels = data.test_labels.loc[submission[ID_COLUMN]].to_numpy()
    losses = row_log_loss(labels, submission[list(data.classes)].to_numpy())
    return {
        "log_loss": float(losses.mean()),
        "standard_error": float(losses.std(ddof=1) / np.sqrt(len(losses))),
        "rows": int(len(losses)),
    }
