"""Progress bars for long work (tqdm), silenced by --quiet; they never change results."""

from __future__ import annotations

from typing import Iterable

from tqdm.auto import tqdm

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def progress(iterable: Iterable, **kwargs) -> tqdm:
    """A tqdm bar over ``iterable`` on stderr (also when redirected to a log file); hidden when quiet."""
    return tqdm(iterable, disable=_quiet, leave=False, **kwargs)
