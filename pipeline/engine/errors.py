"""Errors a user can fix: each renders as one line and makes the command exit with code 2."""

from __future__ import annotations


class UserError(Exception):
    """Base of the errors that are the user's input, not a bug: one line, exit code 2."""

    exit_code = 2


class DataError(UserError):
    """A data file breaks the schema; the message names file, column and row where they apply."""

    def __init__(self, file: str, message: str, column: str | None = None, line: int | None = None):
        self.file, self.column, self.line = file, column, line
        where = [str(file)]
        if column is not None:
            where.append(f"column '{column}'")
        if line is not None:
            where.append(f"line {line}")
        super().__init__(f"{', '.join(where)}: {message}")


class ConfigError(UserError):
    """A config key or value is wrong; the message names the key and the valid choices."""
