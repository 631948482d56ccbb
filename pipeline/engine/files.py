"""Files appear whole or not at all: atomic writes of a file or a folder, and figures as PNG bytes."""

from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def figure_png(figure) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """``write(temporary)`` into a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def write_file(path: Path, text: str) -> Path:
    """Write a text file atomically."""
    return write_atomically(path, lambda temporary: temporary.write_text(text, "utf-8"))


def write_folder(folder: Path, writers: dict[str, Callable[[Path], None]]) -> Path:
    """Each writer writes its file into a staging folder, which then replaces ``folder`` at once."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for name, write in writers.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            write(staging / name)
        replace_folder(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


PUBLISH_ATTEMPTS = 50


def replace_folder(staging: Path, folder: Path) -> None:
    """Swap a finished staging folder into place of ``folder``. Runs writing the same folder at once
    all finish: each retires whatever is there, then publishes its own, trying again when another run
    published in between; the last one's folder stays, and no retired copy is left behind."""
    for _ in range(PUBLISH_ATTEMPTS):
        retired = Path(tempfile.mkdtemp(prefix=f".{folder.name}-old-", dir=folder.parent))
        try:
            try:
                os.replace(folder, retired / folder.name)
            except FileNotFoundError:  # nothing there, or another run retired it first
                pass
            try:
                os.replace(staging, folder)
                return
            except OSError as error:  # another run published between our two renames
                if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
        finally:
            shutil.rmtree(retired, ignore_errors=True)
    raise OSError(f"{folder}: other runs kept replacing it; {PUBLISH_ATTEMPTS} attempts failed")
