"""The ledger: rows appended whole by runs finishing at once; a damaged row is skipped, not fatal."""

from __future__ import annotations

import csv
import json
import multiprocessing
from pathlib import Path

import pytest

from pipeline.reporting.ledger import LEDGER_COLUMNS, append_to_ledger, ledger_row, read_ledger
from pipeline.reporting.run_folder import write_runs_index


def a_row(run_id: str, score: float = 0.4) -> dict:
    return ledger_row(
        run_id=run_id, stage="all", data="sample", models={"lgbm": score}, honesty={"lgbm": "honest"},
        blend_nested=score, seconds=12.5, options="x" * 3000,  # long rows: more than one write each
    )  # fmt: skip


def append_many(path: str, writer: int, count: int, start) -> None:
    start.wait()  # both writers begin at once
    for k in range(count):
        append_to_ledger(Path(path), a_row(f"w{writer}-{k}"))


def test_two_processes_appending_to_one_ledger_interleave_no_row(tmp_path):
    path = tmp_path / "ledger.csv"
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    writers = [context.Process(target=append_many, args=(str(path), w, 600, start)) for w in range(2)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    assert [process.exitcode for process in writers] == [0, 0]
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(LEDGER_COLUMNS) and rows.count(list(LEDGER_COLUMNS)) == 1
    assert all(len(row) == len(LEDGER_COLUMNS) for row in rows)
    assert sorted(read_ledger(path)["run_id"]) == sorted(f"w{w}-{k}" for w in range(2) for k in range(600))


@pytest.mark.parametrize(
    "column, damage, why",
    [
        ("models", '{"lgbm": 0.4', "column 'models' is not JSON"),
        ("models", '{"lgbm": "good"}', "column 'models' holds a score that is not a number"),
        ("seconds", "twelve", "column 'seconds' is not a number"),
        (None, None, f"5 cells, not {len(LEDGER_COLUMNS)}"),
    ],
)
def test_a_damaged_ledger_row_is_skipped_with_its_line_and_the_index_is_still_written(
    tmp_path, column, damage, why
):
    path = tmp_path / "ledger.csv"
    for run_id in ("first", "second", "third"):
        append_to_ledger(path, a_row(run_id))
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if column is None:
        rows[2] = rows[2][:5]  # a row cut short
    else:
        rows[2][LEDGER_COLUMNS.index(column)] = damage
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.warns(UserWarning, match=f"ledger.csv line 3: skipped \\({why}"):
        index = write_runs_index(tmp_path)
    page = index.read_text(encoding="utf-8")
    assert "first" in page and "third" in page and "second" not in page


def test_every_ledger_value_is_json_or_text_a_reader_takes_back():
    row = a_row("r1", 0.41234567)
    assert json.loads(row["models"]) == {"lgbm": 0.41234567}
    assert row["blend_nested"] == "0.412346" and row["finished_at"]
