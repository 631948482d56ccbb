"""Every error a user can cause: exit code 2, exactly one line on stderr, and nothing written."""

from __future__ import annotations

import pandas as pd
import pytest
from testkit import run_cli


def edit_csv(directory, name, column, row, value):
    frame = pd.read_csv(directory / name, dtype={"id": str})
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value
    frame.to_csv(directory / name, index=False)


def bad_train_id(directory):
    edit_csv(directory, "train.csv", "id", 3, "4.5")


def huge_magnitude(directory):
    edit_csv(directory, "test.csv", "psfMag_u", 9, 1e39)


def not_toml(directory):
    (directory / "bad.toml").write_text("[lgbm\nnum_leaves = 3")


CASES = {
    "unknown key": (["--set", "lgbm.num_leavs=3"], None, "did you mean num_leaves"),
    "out of range": (["--set", "submission.clip=0.5"], None, "allowed: 0 <= clip <= 0.01"),
    "negative inner share": (["--set", "lgbm.inner_share=-0.1"], None, "allowed: 0 < inner_share"),
    "report setting": (["--set", "report.bins=0"], None, "report.bins = 0 is out of range"),
    "string for a number": (["--set", 'lgbm.learning_rate="fast"'], None, "LightGBM refuses it"),
    "wrong type": (["--set", "mlp.hidden=2.5"], None, "mlp.hidden must be int"),
    "holdout share": (["--holdout", "0.9"], None, "holdout.share = 0.9 is out of range"),
    "jobs": (["--jobs", "-2"], None, "parallel.n_jobs = -2 is out of range"),
    "argument": (["--preset", "nope"], None, "invalid choice: 'nope'"),
    "missing data dir": (["--data-dir", "{tmp}/nowhere"], None, "no such folder"),
    "data dir is a file": (["--data-dir", "{dacon}/train.csv"], None, "is a file, not a folder"),
    "missing config": (["--config", "{tmp}/none.toml"], None, "no such file"),
    "config not toml": (["--config", "{dacon}/bad.toml"], not_toml, "not valid TOML"),
    "cache dir is a file": (["--cache-dir", "{dacon}/test.csv"], None, "is a file, not a folder"),
    "id not an integer": (["--data-dir", "{dacon}"], bad_train_id, "train.csv, column 'id', line 5"),
    "magnitude too big": (["--data-dir", "{dacon}"], huge_magnitude, "test.csv, column 'psfMag_u', line 11"),
    "compare without runs": (["--stage", "compare"], None, "needs --runs A B"),
}


def files_under(folder) -> set:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("case", list(CASES))
def test_an_error_is_one_stderr_line_exit_2_and_nothing_written(tmp_path, sample_dir, capsys, case):
    arguments, prepare, words = CASES[case]
    if prepare is not None:
        prepare(sample_dir)
    arguments = [a.format(tmp=tmp_path, dacon=sample_dir) for a in arguments]
    before = files_under(tmp_path)
    assert run_cli(tmp_path, "--stage", "all", *arguments) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
    assert files_under(tmp_path) == before
