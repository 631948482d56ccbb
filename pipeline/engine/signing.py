"""The key that signs cache entries, so that only entries this installation wrote are ever unpickled.

The key is 32 random bytes (hex) in a file outside any cache folder, created on first use with mode
600: ``$XDG_CONFIG_HOME/dacon-celestial/cache.key`` (default ``~/.config/...``). A team sharing one
cache folder points ``DACON_CACHE_KEY_FILE`` at one key file they all can read (and nobody else).
A signature is HMAC-SHA256 over an entry's metadata, which holds the artifact's SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from pathlib import Path

from pipeline.engine.errors import UserError

KEY_ENV = "DACON_CACHE_KEY_FILE"
KEY_HEX_LENGTH = 64


def key_path() -> Path:
    """Where the signing key is: ``$DACON_CACHE_KEY_FILE``, else the user's config directory."""
    override = os.environ.get(KEY_ENV)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "dacon-celestial" / "cache.key"


def signing_key() -> bytes:
    """This installation's key (created on first use)."""
    return _key_at(key_path().resolve())


@functools.lru_cache(maxsize=8)
def _key_at(path: Path) -> bytes:
    if not path.exists():
        try:
            create_key(path)
        except OSError as error:
            raise UserError(
                f"{path}: cannot create the cache signing key ({error.strerror or error}); set {KEY_ENV} "
                "to a file you can write"
            ) from None
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read the cache signing key ({error}); set {KEY_ENV}") from None
    if len(text) != KEY_HEX_LENGTH or any(c not in "0123456789abcdef" for c in text):
        raise UserError(
            f"{path}: not a cache signing key ({KEY_HEX_LENGTH} hex digits); delete it or set {KEY_ENV}"
        )
    return bytes.fromhex(text)


def create_key(path: Path) -> None:
    """A new random key at ``path``, mode 600, appearing whole; a key another process created first wins."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(prefix=".key-", dir=path.parent)  # mkstemp files are mode 600
    try:
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(KEY_HEX_LENGTH // 2) + "\n")
        os.chmod(temporary, 0o600)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.remove(temporary)


def canonical(meta: dict) -> bytes:
    """The bytes a signature covers: the metadata as sorted JSON, without its signature."""
    body = {key: value for key, value in meta.items() if key != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def signature(meta: dict, key: bytes) -> str:
    return hmac.new(key, canonical(meta), hashlib.sha256).hexdigest()


def signed_by(meta: dict, key: bytes) -> bool:
    """Whether ``meta`` carries a signature made with ``key`` over exactly its other fields."""
    given = meta.get("signature")
    return isinstance(given, str) and hmac.compare_digest(given, signature(meta, key))
