"""The run ledger: one row per finished command in ``<out-dir>/ledger.csv``, for comparing experiments."""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from pipeline.engine.redact import masked

if TYPE_CHECKING:
    import pandas as pd

LEDGER_NAME = "ledger.csv"
LEDGER_COLUMNS = (
    "finished_at",
    "run_id",
    "stage",
    "options",
    "data",
    "data_fingerprint",
    "config_hash",
    "models",
    "honesty",
    "blend_method",
    "blend_weights",
    "blend_nested",
    "blend_optimistic",
    "duplicates",
    "simulated_holdout",
    "simulated_holdout_se",
    "holdout",
    "holdout_verdicts",
    "submission",
    "seconds",
    "from_cache",
)


JSON_COLUMNS = ("models", "honesty", "blend_weights", "duplicates", "holdout", "holdout_verdicts")
NUMBER_COLUMNS = ("blend_nested", "blend_optimistic", "simulated_holdout", "simulated_holdout_se", "seconds")


def ledger_row(**values) -> dict[str, str]:
    """A ledger row; dicts and lists become compact JSON, floats keep 6 decimals, URL passwords ***."""
    row = {}
    for column in LEDGER_COLUMNS:
        value = values.get(column, "")
        if isinstance(value, float):
            value = f"{value:.6f}"
        elif isinstance(value, (dict, list, tuple)):
            value = json.dumps(value, separators=(",", ":"), sort_keys=False)
        row[column] = masked(str(value))
    row["finished_at"] = row["finished_at"] or datetime.now(timezone.utc).isoformat(timespec="seconds")
    return row


def retire_other_layout(path: Path) -> None:
    """A ledger with other columns (written by an older version) is renamed aside, never mixed."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            header = handle.readline().strip()
    except FileNotFoundError:
        return
    if header and header != ",".join(LEDGER_COLUMNS):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        retired = path.with_name(f"{path.stem}-columns-before-{stamp}{path.suffix}")
        try:
            os.replace(path, retired)
        except FileNotFoundError:  # another run retired it first
            return
        warnings.warn(f"{path}: written with other columns; moved to {retired.name}", stacklevel=2)


def append_to_ledger(path: Path, row: dict[str, str]) -> None:
    """Append one row under an exclusive lock (the header first when the file is empty), so runs
    finishing at the same time never interleave or duplicate the header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    retire_other_layout(path)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=LEDGER_COLUMNS)
    with open(path, "a", encoding="utf-8", newline="") as handle:
        with locked(handle):
            if handle.tell() == 0:
                writer.writeheader()
            writer.writerow(row)
            handle.write(text.getvalue())
            handle.flush()


@contextmanager
def locked(handle) -> Iterator[None]:
    """An exclusive advisory lock on an open file (no lock where fcntl does not exist)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    try:
        handle.seek(0, os.SEEK_END)
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_ledger(path: Path) -> pd.DataFrame:
    """The ledger's rows as text (one column per ledger column); a row a hand edit or a crash damaged
    (wrong number of cells, a JSON or number cell that does not parse) is skipped with a warning that
    names its line, so one bad row never hides the others."""
    import pandas as pd

    rows = []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is not None and tuple(header) != LEDGER_COLUMNS:
            warnings.warn(f"{path}: not the ledger's columns; no run read from it", stacklevel=2)
            return pd.DataFrame(columns=LEDGER_COLUMNS)
        for cells in reader:
            problem = row_problem(cells)
            if problem:
                warnings.warn(f"{path} line {reader.line_num}: skipped ({problem})", stacklevel=2)
                continue
            rows.append(dict(zip(LEDGER_COLUMNS, cells)))
    return pd.DataFrame(rows, columns=LEDGER_COLUMNS, dtype=str)


def row_problem(cells: list[str]) -> str:
    """Why a ledger row cannot be read ("" when it can)."""
    if len(cells) != len(LEDGER_COLUMNS):
        return f"{len(cells)} cells, not {len(LEDGER_COLUMNS)}"
    row = dict(zip(LEDGER_COLUMNS, cells))
    for column in JSON_COLUMNS:
        try:
            value = json.loads(row[column]) if row[column] else None
        except ValueError:
            return f"column '{column}' is not JSON"
        if column in ("models", "honesty") and value is not None and not isinstance(value, dict):
            return f"column '{column}' is not a JSON object"
        if column == "models" and value and not all(isinstance(v, (int, float)) for v in value.values()):
            return "column 'models' holds a score that is not a number"
    for column in NUMBER_COLUMNS:
        try:
            float(row[column]) if row[column] else None
        except ValueError:
            return f"column '{column}' is not a number"
    return ""
