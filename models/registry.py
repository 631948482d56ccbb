"""The model registry: every family the pipeline knows, and the one place a family is added.

To add a family: make ``models/<name>/`` with ``SPEC = ModelSpec(...)`` in its ``__init__.py`` and
add its package to ``FAMILIES``. The stage graph, tuning, the config and the presets loop over
``specs()``. ``registered(spec)`` adds one for a while (a plug-in, a test) without editing this file.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from typing import Iterator

from models.spec import ModelSpec, SpecError

FAMILIES = (
    "models.lgbm",
    "models.mlp",
    "models.xgb",
    "models.catboost",
)
_added: dict[str, ModelSpec] = {}


def specs() -> tuple[ModelSpec, ...]:
    """Every registered family, in registry order (added ones last)."""
    found = [importlib.import_module(package).SPEC for package in FAMILIES]
    every = [*found, *_added.values()]
    names = [spec.name for spec in every]
    if len(set(names)) != len(names):
        raise SpecError(f"two model families share a name: {names}")
    return tuple(every)


def spec(name: str) -> ModelSpec:
    """The family of a model stage name (``lgbm`` or ``lgbm_pruned``)."""
    for candidate in specs():
        if name in candidate.stage_names:
            return candidate
    raise KeyError(f"no model family '{name}' (known: {', '.join(model_stage_names())})")


def family_names() -> tuple[str, ...]:
    return tuple(s.name for s in specs())


def tunable_names() -> tuple[str, ...]:
    return tuple(s.name for s in specs() if s.tunable)


def model_stage_names() -> tuple[str, ...]:
    """Every model stage: each family, then the pruned variants."""
    every = specs()
    return (*(s.name for s in every), *(f"{s.name}_pruned" for s in every if s.pruned))


@contextmanager
def registered(extra: ModelSpec) -> Iterator[ModelSpec]:
    """``extra`` is a registered family inside the block."""
    if extra.name in family_names():
        raise SpecError(f"model family '{extra.name}' is registered already")
    _added[extra.name] = extra
    try:
        yield extra
    finally:
        _added.pop(extra.name, None)
