"""The files of a run folder: the submission with each model's OOF and test CSVs beside it, the report,
importance and tuning files; each as a writer the run folder is made from at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pandas as pd

from pipeline.engine.files import write_folder
from pipeline.engine.redact import masked_values

if TYPE_CHECKING:  # annotations only: a cached run need not import eli5 or matplotlib
    from pipeline.reporting.oof_report import Report
    from pipeline.stages.importance import Importance, Selection
    from pipeline.stages.tune import TunedSettings
    from pipeline.validation.cv import ModelResult

FLOAT_FORMAT = "%.7g"


def prediction_frame(proba: pd.DataFrame) -> pd.DataFrame:
    """Probabilities indexed by id, one column per class (as written to CSV)."""
    return proba.rename_axis("id")


def write_run_folder(
    folder: Path,
    submission: pd.DataFrame,
    results: list[ModelResult],
    run_info: dict,
    importance: tuple[Importance, Selection] | None = None,
    report: Report | None = None,
    tuned: list[TunedSettings] = (),
    row_losses: pd.DataFrame | None = None,
    page: str | None = None,
) -> Path:
    """Write submission.csv, oof_<model>.csv, test_<model>.csv, run.json, row_losses.csv (each row's
    OOF loss per model, for --stage compare), and the importance, report and tuning files when the run
    has them; the folder appears whole or not at all."""
    writers: dict[str, Callable[[Path], None]] = {
        "submission.csv": lambda path: submission.to_csv(path, index=False)
    }
    for result in results:
        writers[f"oof_{result.name}.csv"] = _csv_writer(result.oof_proba)
        writers[f"test_{result.name}.csv"] = _csv_writer(result.test_proba)
    if importance is not None:
        writers.update(importance_writers(*importance))
    if report is not None:
        writers.update(report_writers(report, prefix="report/", page=page))
    if tuned:
        writers.update(tune_writers(tuned))
    if row_losses is not None:
        writers["row_losses.csv"] = lambda path: row_losses.to_csv(path, float_format=FLOAT_FORMAT)
    writers["run.json"] = lambda path: path.write_text(
        json.dumps(masked_values(run_info), indent=2, default=str), "utf-8"
    )
    return write_folder(folder, writers)


def importance_writers(importance: Importance, selection: Selection) -> dict[str, Callable[[Path], None]]:
    """importance.csv: ranked, with how many folds keep each feature and whether each fold does."""
    ranked = importance.ranked
    ranked["kept_folds"] = ranked["feature"].map(selection.folds_keeping())
    for fold, kept in enumerate(selection.kept_per_fold):
        ranked[f"kept_fold_{fold}"] = ranked["feature"].isin(kept)
    return {"importance.csv": lambda path: ranked.to_csv(path, float_format=FLOAT_FORMAT)}


def tune_writers(studies: list[TunedSettings]) -> dict[str, Callable[[Path], None]]:
    """trials_<model>.csv per study, their plots, and best_params.toml (every study's best settings)."""
    writers: dict[str, Callable[[Path], None]] = {
        "best_params.toml": lambda path: path.write_text(
            "\n".join(t.best_params_toml() for t in studies), "utf-8"
        )
    }
    for tuned in studies:
        writers[f"trials_{tuned.model}.csv"] = _table_writer(tuned.trials)
        for name, picture in tuned.pictures.items():
            writers[name] = lambda path, picture=picture: path.write_bytes(picture)
    return writers


def report_writers(report: Report, prefix: str, page: str | None = None) -> dict[str, Callable[[Path], None]]:
    """index.html (``page``, else the report alone), its PNG pictures and each table as CSV, under
    ``prefix`` in the folder."""
    writers: dict[str, Callable[[Path], None]] = {
        f"{prefix}index.html": lambda path: path.write_text(page or report.html, "utf-8")
    }
    for name, picture in report.pictures.items():
        writers[f"{prefix}{name}"] = lambda path, picture=picture: path.write_bytes(picture)
    for name, table in report.tables.items():
        file = name.replace(": ", "_").replace(" ", "_")
        writers[f"{prefix}{file}.csv"] = lambda path, table=table: table.to_csv(
            path, float_format=FLOAT_FORMAT
        )
    return writers


def _table_writer(table: pd.DataFrame) -> Callable[[Path], None]:
    return lambda path: table.to_csv(path, float_format=FLOAT_FORMAT)


def _csv_writer(proba: pd.DataFrame) -> Callable[[Path], None]:
    return lambda path: prediction_frame(proba).to_csv(path, float_format=FLOAT_FORMAT)
