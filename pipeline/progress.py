"""Progress bars for long work (tqdm), silenced by --quiet; they never change results."""

from __future__ import annotations

from typing import Iterable

from tqdm.auto import tqdm

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def progress(iterable: Iterable, **kwargs) -> tqdm:
    """A tqdm bar over ``iterable``; hidden when quiet (and by tqdm itself when not on a terminal)."""
    return tqdm(iterable, disable=True if _quiet else None, leave=False, **kwargs)
