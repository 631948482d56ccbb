"""Passwords in URLs (a database for Optuna's studies, a scheduler address) never reach an output:
whatever is shown or stored goes through ``masked`` (text) or ``masked_values`` (nested data)."""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@?#]*:)(?P<password>[^\s@]+)@")


def masked(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` in it replaced by ***."""
    return URL_PASSWORD.sub(lambda match: f"{match['head']}{MASK}@", text)


def masked_values(value: Any) -> Any:
    """A copy of nested dicts, lists and tuples with every string ``masked``."""
    if isinstance(value, str):
        return masked(value)
    if isinstance(value, dict):
        return {key: masked_values(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(masked_values(item) for item in value)
    return value
