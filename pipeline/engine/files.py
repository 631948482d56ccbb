"""Files appear whole or not at all: atomic writes of a file or a folder, and figures as PNG bytes."""

from __future__ import annotations

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


def replace_folder(staging: Path, folder: Path) -> None:
    """Swap a finished staging folder into place of ``folder``."""
    if folder.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{folder.name}-old-", dir=folder.parent))
        os.replace(folder, retired / folder.name)
        shutil.rmtree(retired, ignore_errors=True)
    os.replace(staging, folder)
