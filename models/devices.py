"""Which device a family trains on: ``auto`` takes CUDA when this machine has a GPU."""

from __future__ import annotations

import functools

from pipeline.engine.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


@functools.lru_cache(maxsize=1)
def cuda_present() -> bool:
    """Whether a CUDA device is visible (asked of torch, a core dependency; False without it)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(section: str, choice: str) -> str:
    """``cpu`` or ``cuda`` for a section's ``device`` setting; ``cuda`` without a GPU is a config error."""
    if choice == "cuda" and not cuda_present():
        raise ConfigError(
            f"config: {section}.device = 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'"
        )
    if choice == "auto":
        return "cuda" if cuda_present() else "cpu"
    return choice
