"""Dacon's three files in, one validated Dataset out; bad input is a one-line DataError."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.data.schema import (
    DACON_CLASSES,
    FEATURE_COLUMNS,
    ID_COLUMN,
    TARGET_COLUMN,
    TEST_COLUMNS,
    TRAIN_COLUMNS,
)
from pipeline.engine.errors import DataError

DATA_FILES = ("train.csv", "test.csv", "sample_submission.csv")
HEADER_LINE = 1
MAGNITUDE_LIMIT = 1e30
"""Largest |magnitude| taken: far beyond any real one (Dacon's wildest is -5,310,802), and every
feature made from such values (differences, sums, squares, decompositions) stays finite in float32."""
INTEGER_TEXT = r"[+-]?\d+(\.0*)?"
ID_RANGE = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class Dataset:
    """Validated data: features indexed by id, labels as codes into ``classes`` (submission order)."""

    train: pd.DataFrame
    labels: pd.Series
    test: pd.DataFrame
    classes: tuple[str, ...]
    test_labels: pd.Series | None = None
    """Labels of the test rows (only a simulation has them)."""
    holdout: pd.DataFrame | None = None
    """Train rows reserved before the folds (``[holdout] share``): predicted like test, never fitted on."""
    holdout_labels: pd.Series | None = None

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def line_of(position: int) -> int:
    """CSV line number of a data row (the header is line 1)."""
    return position + HEADER_LINE + 1


def read_csv(path: Path) -> pd.DataFrame:
    """Read one CSV; a missing, empty, non-UTF-8 or malformed file is a DataError."""
    if not path.is_file():
        raise DataError(str(path), "file not found")
    if path.stat().st_size == 0:
        raise DataError(str(path), "file is empty")
    try:
        frame = pd.read_csv(path, encoding="utf-8", low_memory=False, dtype={ID_COLUMN: str})
    except UnicodeDecodeError as error:
        raise DataError(str(path), f"not UTF-8 text (byte {error.start})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(str(path), f"not a valid CSV ({str(error).strip()})") from None
    if frame.empty:
        raise DataError(str(path), "no data rows")
    return frame


def check_columns(frame: pd.DataFrame, required: tuple[str, ...], file: str) -> pd.DataFrame:
    """Required columns present (first missing one named); unknown ones dropped with a warning."""
    for column in required:
        if column not in frame.columns:
            raise DataError(
                file,
                f"missing column (found: {', '.join(map(str, frame.columns[:8]))}, ...)",
                column,
                HEADER_LINE,
            )
    extra = [c for c in frame.columns if c not in required]
    if extra:
        warnings.warn(f"{file}: ignoring unknown column(s) {', '.join(map(str, extra))}", stacklevel=2)
    return frame[list(required)]


def check_numeric(frame: pd.DataFrame, columns: tuple[str, ...], file: str) -> pd.DataFrame:
    """Every value a finite number; the first offender is named by column and line."""
    out = frame.copy()
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            position = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                file, f"not a number: {frame[column].iloc[position]!r}", column, line_of(position)
            )
        finite = np.isfinite(values.to_numpy(dtype="float64"))
        if not finite.all():
            position = int(np.flatnonzero(~finite)[0])
            raise DataError(
                file,
                f"missing or infinite value: {float(values.iloc[position])!r}",
                column,
                line_of(position),
            )
        out[column] = values.astype("float64")
    return out


def check_magnitudes(frame: pd.DataFrame, columns: tuple[str, ...], file: str) -> pd.DataFrame:
    """Every value (magnitudes and fiberID) within +-MAGNITUDE_LIMIT (the first offender named by column
    and line)."""
    for column in columns:
        outside = np.abs(frame[column].to_numpy(dtype="float64")) > MAGNITUDE_LIMIT
        if outside.any():
            position = int(np.flatnonzero(outside)[0])
            raise DataError(
                file,
                f"{float(frame[column].iloc[position])!r} is out of range (|value| <= {MAGNITUDE_LIMIT:g}: "
                "every feature made of it stays finite in float32)",
                column,
                line_of(position),
            )
    return frame


def exact_ids(values: pd.Series, file: str) -> np.ndarray:
    """Ids as exact 64-bit integers, read from their text (never through float64, which merges ids
    above 2**53); a value that is not a whole number or does not fit is named with its line."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.to_numpy(dtype="int64")
    text = values.astype(str).where(values.notna(), "").str.strip()
    whole = text.str.fullmatch(INTEGER_TEXT)
    if not whole.all():
        position = int(np.flatnonzero(~whole.to_numpy())[0])
        shown = text.iloc[position] or "missing"
        raise DataError(file, f"id is not an integer: {shown!r}", ID_COLUMN, line_of(position))
    digits = text.str.replace(r"\.0*$", "", regex=True).to_numpy(dtype=str)
    try:
        return digits.astype("int64")  # numpy parses the text exactly
    except OverflowError:
        position = next(k for k, d in enumerate(digits) if not ID_RANGE[0] <= int(d) <= ID_RANGE[1])
        raise DataError(
            file, f"id {int(digits[position])} does not fit a 64-bit integer", ID_COLUMN, line_of(position)
        ) from None


def check_ids(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """Integer, unique ids; returns the frame indexed by id."""
    ids = pd.Series(exact_ids(frame[ID_COLUMN], file))
    duplicated = ids.duplicated().to_numpy()
    if duplicated.any():
        position = int(np.flatnonzero(duplicated)[0])
        raise DataError(file, f"duplicated id {int(ids.iloc[position])}", ID_COLUMN, line_of(position))
    return frame.drop(columns=ID_COLUMN).set_axis(pd.Index(ids, name=ID_COLUMN))


def class_order(sample: pd.DataFrame, file: str) -> tuple[str, ...]:
    """The 19 class columns of the sample submission, in its order."""
    if sample.columns[0] != ID_COLUMN:
        raise DataError(
            file,
            f"first column must be '{ID_COLUMN}', found '{sample.columns[0]}'",
            sample.columns[0],
            HEADER_LINE,
        )
    classes = tuple(str(c) for c in sample.columns[1:])
    unknown = [c for c in classes if c not in DACON_CLASSES]
    if unknown:
        raise DataError(file, "not one of Dacon's 19 classes", unknown[0], HEADER_LINE)
    missing = sorted(DACON_CLASSES - set(classes))
    if missing or len(classes) != len(DACON_CLASSES):
        raise DataError(
            file,
            f"class columns must be Dacon's 19 classes once each (missing: {', '.join(missing) or 'none'})",
            None,
            HEADER_LINE,
        )
    return classes


def encode_labels(train: pd.DataFrame, classes: tuple[str, ...], file: str) -> pd.Series:
    """Class names to codes into ``classes``; an unknown label is named with its line."""
    codes = train[TARGET_COLUMN].map({name: code for code, name in enumerate(classes)})
    if codes.isna().any():
        position = int(np.flatnonzero(codes.isna().to_numpy())[0])
        raise DataError(
            file,
            f"label {train[TARGET_COLUMN].iloc[position]!r} is not one of the sample submission's classes",
            TARGET_COLUMN,
            line_of(position),
        )
    return codes.astype("int64").rename(TARGET_COLUMN)


def align_test(test: pd.DataFrame, sample_ids: pd.Index, test_file: str, sample_file: str) -> pd.DataFrame:
    """Test rows in the sample submission's row order; the id sets must match."""
    missing = sample_ids.difference(test.index)
    if len(missing):
        position = int(sample_ids.get_loc(missing[0]))
        raise DataError(
            sample_file, f"id {missing[0]} has no row in {test_file}", ID_COLUMN, line_of(position)
        )
    extra = test.index.difference(sample_ids)
    if len(extra):
        position = int(test.index.get_loc(extra[0]))
        raise DataError(test_file, f"id {extra[0]} is not in {sample_file}", ID_COLUMN, line_of(position))
    return test.loc[sample_ids]


def warn_on_fiber_range(test: pd.DataFrame, file: str) -> None:
    """fiberID outside 1..1000 is valid input, but worth a warning."""
    outside = (test["fiberID"] < 1) | (test["fiberID"] > 1000)
    if outside.any():
        warnings.warn(f"{file}: {int(outside.sum())} row(s) with fiberID outside 1..1000", stacklevel=2)


def checked_features(frame: pd.DataFrame, columns: tuple[str, ...], file: str) -> pd.DataFrame:
    """The required columns, numbers finite and magnitudes within range."""
    numeric = check_numeric(check_columns(frame, columns, file), FEATURE_COLUMNS, file)
    return check_magnitudes(numeric, FEATURE_COLUMNS, file)


def dataset_from_frames(
    train: pd.DataFrame,
    test: pd.DataFrame,
    sample: pd.DataFrame,
    names: tuple[str, str, str],
    test_labels: pd.Series | None = None,
) -> Dataset:
    """Validate Dacon-format frames and build the Dataset."""
    train_file, test_file, sample_file = names
    classes = class_order(sample, sample_file)
    sample_ids = check_ids(sample[[ID_COLUMN]], sample_file).index
    train = check_ids(checked_features(train, TRAIN_COLUMNS, train_file), train_file)
    test = check_ids(checked_features(test, TEST_COLUMNS, test_file), test_file)
    test = align_test(test, sample_ids, test_file, sample_file)
    warn_on_fiber_range(test, test_file)
    labels = encode_labels(train, classes, train_file)
    if test_labels is not None:
        test_labels = (
            test_labels.loc[test.index].map({name: code for code, name in enumerate(classes)}).astype("int64")
        )
    return Dataset(
        train=train[list(FEATURE_COLUMNS)], labels=labels, test=test, classes=classes, test_labels=test_labels
    )


def load_dataset(directory: Path) -> Dataset:
    """Read and validate train.csv, test.csv and sample_submission.csv from a directory."""
    paths = [Path(directory) / name for name in DATA_FILES]
    frames = [read_csv(path) for path in paths]
    return dataset_from_frames(*frames, names=tuple(str(p) for p in paths))
