"""Content-keyed artifact cache on joblib: atomic, signed entries.

An entry is a folder ``<root>/<stage>/<key>/`` holding ``artifact.joblib`` and ``meta.json``. It is
written to a temporary folder and renamed into place, so a killed run leaves no half entry. Loading a
pickle runs code, so the metadata carries the artifact's SHA-256 and an HMAC-SHA256 signature made
with this installation's key (``pipeline.engine.signing``): an entry that another key signed (a
``.cache/`` that came with a download), that is unsigned, damaged or unreadable is reported in one
line and recomputed, never unpickled.
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

from pipeline.engine.signing import signature, signed_by, signing_key

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
    """Artifacts by (stage, key) under one root folder, signed with this installation's key."""

    def __init__(self, root: Path, key: bytes | None = None):
        """``key``: the signing key (default: this installation's, see ``pipeline.engine.signing``)."""
        self.root = Path(root)
        self._key = key

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = signing_key()
        return self._key

    def entry(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def inspect(self, stage: str, key: str) -> tuple[dict | None, str | None]:
        """(trusted metadata, None), (None, why the entry cannot be trusted), or (None, None) when
        there is no entry. Only the metadata is read: its signature covers the artifact's checksum."""
        folder = self.entry(stage, key)
        try:
            text = (folder / META_FILE).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None, ("metadata missing" if folder.is_dir() else None)
        except (OSError, UnicodeDecodeError) as error:
            return None, f"unreadable metadata ({error.__class__.__name__})"
        try:
            meta = json.loads(text)
        except ValueError:
            return None, "metadata is not JSON"
        if not isinstance(meta, dict):
            return None, "metadata is not a JSON object"
        if not signed_by(meta, self.key):
            return None, "not signed by this installation's key (another user's or an older version's)"
        return meta, None

    def read_meta(self, stage: str, key: str) -> dict | None:
        """The entry's metadata when the entry is there and trusted, else None."""
        return self.inspect(stage, key)[0]

    def newest_meta(self, stage: str) -> dict | None:
        """The trusted metadata of the stage's most recently created entry (what ``explain`` compares)."""
        newest = None
        for folder in (self.root / stage).glob("*/"):
            meta = self.read_meta(stage, folder.name)
            if meta is not None and (
                newest is None or str(meta.get("created", "")) > str(newest.get("created", ""))
            ):
                newest = meta
        return newest

    def load(self, stage: str, key: str) -> tuple[Any, dict] | None:
        """(artifact, meta) of a trusted entry; None when absent. An entry that cannot be trusted or
        read warns in one line, is removed and is never unpickled."""
        meta, problem = self.inspect(stage, key)
        if meta is None and problem is None:
            return None
        try:
            if problem is not None:
                raise CorruptEntry(problem)
            return self._load_checked(stage, key, meta), meta
        except CorruptEntry as why:
            warnings.warn(
                f"cache entry {self.entry(stage, key)} is not loaded: {why}; recomputing", stacklevel=2
            )
            shutil.rmtree(self.entry(stage, key), ignore_errors=True)
            return None

    def _load_checked(self, stage: str, key: str, meta: dict) -> Any:
        path = self.entry(stage, key) / ARTIFACT_FILE
        if not path.is_file() or file_sha256(path) != meta.get("checksum"):
            raise CorruptEntry("checksum mismatch")
        try:
            return joblib.load(path)
        except Exception as error:  # signed and matching: a library changed under us
            raise CorruptEntry(f"cannot unpickle: {error}") from None

    def save(self, stage: str, key: str, artifact: Any, meta: dict) -> dict:
        """Write the entry atomically and sign it; a concurrent writer of the same key keeps its own copy."""
        final = self.entry(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=final.parent))
        try:
            joblib.dump(artifact, temporary / ARTIFACT_FILE)
            meta = json.loads(
                json.dumps({**meta, "checksum": file_sha256(temporary / ARTIFACT_FILE)}, default=str)
            )
            meta["signature"] = signature(meta, self.key)
            (temporary / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
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
