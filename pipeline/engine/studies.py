"""Where Optuna studies are stored. Like the parallel backend, a place of work, not part of any result:
the command line and ``load_result`` set it for the run; the tune stages read it.

The default is an SQLite file in the cache folder; any SQLAlchemy URL (PostgreSQL, MySQL) lets
workers on several machines share one study.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

STUDY_FILE = Path("tune") / "optuna.sqlite3"
_url = ""


def default_storage_url(cache_dir: Path | str) -> str:
    """``sqlite:///<cache-dir>/tune/optuna.sqlite3`` (absolute)."""
    return f"sqlite:///{(Path(cache_dir) / STUDY_FILE).resolve()}"


@contextmanager
def study_storage(url: str) -> Iterator[None]:
    """Store studies at ``url`` for the while (nothing is created until a study is opened)."""
    global _url
    before, _url = _url, url
    try:
        yield
    finally:
        _url = before


def storage_url() -> str:
    """The storage of this run ("": in memory, this process only); an SQLite file's folder is
    created when asked for."""
    if _url.startswith("sqlite:///"):
        Path(_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return _url
