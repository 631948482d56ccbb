"""Content-keyed artifact cache on joblib: atomic entries with a checksum in their metadata.

An entry is a folder ``<root>/<stage>/<key>/`` holding ``artifact.joblib`` and ``meta.json``. It is
written to a temporary folder and renamed into place, so a killed run leaves no half entry. Loading
pickles runs code: use a cache folder that only your own runs wrote. An entry whose checksum does
not match is reported and recomputed, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import joblib

ARTIFACT_FILE = "artifact.joblib"
META_FILE = "meta.json"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class CorruptEntry(Exception):
    """A cache entry that cannot be trusted."""


class Cache:
    """Artifacts by (stage, key) under one root folder."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def entry(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def read_meta(self, stage: str, key: str) -> dict | None:
        """The entry's metadata, or None when there is no complete entry."""
        try:
            return json.loads((self.entry(stage, key) / META_FILE).read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {"corrupt": True}

    def newest_meta(self, stage: str) -> dict | None:
        """The metadata of the stage's most recently created entry, if any (what ``explain`` compares)."""
        newest = None
        for meta_path in (self.root / stage).glob(f"*/{META_FILE}"):
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict) and (
                newest is None or meta.get("created", "") > newest.get("created", "")
            ):
                newest = meta
        return newest

    def load(self, stage: str, key: str) -> tuple[Any, dict] | None:
        """(artifact, meta) of a valid entry; None when absent; a corrupt entry warns and is removed."""
        meta = self.read_meta(stage, key)
        if meta is None:
            return None
        try:
            return self._load_checked(stage, key, meta), meta
        except CorruptEntry as problem:
            warnings.warn(
                f"cache entry {self.entry(stage, key)} is corrupt ({problem}); recomputing", stacklevel=2
            )
            shutil.rmtree(self.entry(stage, key), ignore_errors=True)
            return None

    def _load_checked(self, stage: str, key: str, meta: dict) -> Any:
        path = self.entry(stage, key) / ARTIFACT_FILE
        if meta.get("corrupt") or "checksum" not in meta:
            raise CorruptEntry("unreadable metadata")
        if not path.is_file() or file_sha256(path) != meta["checksum"]:
            raise CorruptEntry("checksum mismatch")
        try:
            return joblib.load(path)
        except Exception as error:  # a matching checksum makes this rare: a library changed under us
            raise CorruptEntry(f"cannot unpickle: {error}") from None

    def save(self, stage: str, key: str, artifact: Any, meta: dict) -> dict:
        """Write the entry atomically; a concurrent writer of the same key keeps its own copy."""
        final = self.entry(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=final.parent))
        try:
            joblib.dump(artifact, temporary / ARTIFACT_FILE)
            meta = {**meta, "checksum": file_sha256(temporary / ARTIFACT_FILE)}
            (temporary / META_FILE).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
            self._publish(temporary, final)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
        return meta

    @staticmethod
    def _publish(temporary: Path, final: Path) -> None:
        if final.exists():
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(temporary, final)
        except OSError:  # another run published the same key first: its entry is as good as ours
            pass
