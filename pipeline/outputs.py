"""What a full run leaves for the user: the submission with each model's OOF and test CSVs beside it."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from pipeline.cv import ModelResult

FLOAT_FORMAT = "%.7g"


def prediction_frame(proba: pd.DataFrame) -> pd.DataFrame:
    """Probabilities indexed by id, one column per class (as written to CSV)."""
    return proba.rename_axis("id")


def write_run_folder(
    folder: Path, submission: pd.DataFrame, results: list[ModelResult], run_info: dict
) -> Path:
    """Write submission.csv, oof_<model>.csv, test_<model>.csv and run.json; the folder appears whole."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        submission.to_csv(staging / "submission.csv", index=False)
        for result in results:
            prediction_frame(result.oof_proba).to_csv(
                staging / f"oof_{result.name}.csv", float_format=FLOAT_FORMAT
            )
            prediction_frame(result.test_proba).to_csv(
                staging / f"test_{result.name}.csv", float_format=FLOAT_FORMAT
            )
        (staging / "run.json").write_text(json.dumps(run_info, indent=2, default=str), encoding="utf-8")
        replace_folder(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def replace_folder(staging: Path, folder: Path) -> None:
    """Swap a finished staging folder into place of ``folder``."""
    if folder.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{folder.name}-old-", dir=folder.parent))
        os.replace(folder, retired / folder.name)
        shutil.rmtree(retired, ignore_errors=True)
    os.replace(staging, folder)
