"""What a model family declares: one ``ModelSpec``, checked when it is made.

A family is a folder ``models/<name>/`` whose ``__init__.py`` defines ``SPEC``; the registry
(``models/registry.py``) lists the folders. The spec itself imports nothing heavy: its trainer is
named as ``"module:attribute"`` and imported only when the model trains, so a command answered
from the cache never imports LightGBM or torch.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

from pipeline.engine.errors import ConfigError

RESERVED_NAMES = frozenset(
    {"data", "sample", "holdout", "features", "folds", "importance", "selection", "blend", "tune", "report",
     "submission", "parallel", "all", "ablate", "compare"}
)  # fmt: skip
TRAINER_METHODS = (
    "fold_model", "stopping_plan", "with_params", "n_seeds", "prepare", "summary", "own_settings",
    "canonical_name",
)  # fmt: skip


class SpecError(TypeError):
    """A model family's spec lacks a piece or holds a wrong one."""


@dataclass(frozen=True)
class ModelSpec:
    """One model family: its name, config section, trainer, search space and what shapes its output."""

    name: str
    """Stage name and config section name (``[lgbm]``); its pruned variant is ``<name>_pruned``."""
    section: type
    """A frozen dataclass with a default for every field: the family's settings and their defaults."""
    trainer: Any
    """Its ``FamilyTrainer`` (``models/training.py``), or ``"module:attribute"`` naming it."""
    code: tuple[str, ...]
    """Modules whose code shapes its results; the runner follows their project imports."""
    libraries: tuple[str, ...] = ()
    """Distributions whose versions shape its output (part of its cache key)."""
    space: dict = field(default_factory=dict)
    """The default search space of ``--stage tune`` (empty: the family cannot be tuned)."""
    space_key_ok: Callable[[str], bool] | None = None
    """Which setting names a search space may tune (needed with a space)."""
    pruned: bool = True
    """Capability: a ``<name>_pruned`` stage trains it on the eli5-selected features of each fold."""
    extra: str = ""
    """The pip extra that installs its libraries (``zoo``: ``pip install -e ".[zoo]"``); "": core."""

    def __post_init__(self) -> None:
        where = f"model family '{self.name}'"
        if not isinstance(self.name, str) or not self.name.isidentifier() or self.name in RESERVED_NAMES:
            raise SpecError(f"{where}: name must be an identifier other than {sorted(RESERVED_NAMES)}")
        check_section(where, self.section)
        if isinstance(self.trainer, str):
            if ":" not in self.trainer:
                raise SpecError(f"{where}: trainer must be 'module:attribute', got {self.trainer!r}")
        else:
            check_trainer(where, self.trainer)
        if not self.code or not all(isinstance(module, str) for module in self.code):
            raise SpecError(f"{where}: code must name the modules that shape its results")
        if not all(isinstance(library, str) for library in self.libraries):
            raise SpecError(f"{where}: libraries must be distribution names")
        if self.space:
            if self.space_key_ok is None:
                raise SpecError(f"{where}: a search space needs space_key_ok (which settings may be tuned)")
            if "settings" not in {f.name for f in dataclasses.fields(self.section)}:
                raise SpecError(
                    f"{where}: a tunable family's section needs a 'settings' field (config | tuned)"
                )

    @property
    def tunable(self) -> bool:
        return bool(self.space)

    @property
    def stage_names(self) -> tuple[str, ...]:
        return (self.name, f"{self.name}_pruned") if self.pruned else (self.name,)

    def missing_libraries(self) -> list[str]:
        """Its libraries that are not installed here."""
        missing = []
        for library in self.libraries:
            try:
                metadata.distribution(library)
            except metadata.PackageNotFoundError:
                missing.append(library)
        return missing

    def check_installed(self) -> None:
        """A one-line error naming the extra to install when a library of the family is missing."""
        missing = self.missing_libraries()
        if missing:
            how = f'pip install -e ".[{self.extra}]"' if self.extra else f"pip install {' '.join(missing)}"
            raise ConfigError(
                f"config: model family '{self.name}' needs {', '.join(missing)}, not installed here: {how}"
            )

    def load_trainer(self) -> Any:
        """The trainer object (its module imported now, where it was named by a string)."""
        if not isinstance(self.trainer, str):
            return self.trainer
        self.check_installed()
        module, _, attribute = self.trainer.partition(":")
        trainer = getattr(importlib.import_module(module), attribute)
        check_trainer(f"model family '{self.name}'", trainer)
        return trainer


def check_section(where: str, section: Any) -> None:
    """A frozen dataclass that builds from its defaults alone."""
    params = getattr(section, "__dataclass_params__", None)
    if not isinstance(section, type) or params is None or not params.frozen:
        raise SpecError(f"{where}: section must be a frozen dataclass, got {section!r}")
    try:
        section()
    except TypeError as error:
        raise SpecError(f"{where}: section needs a default for every setting ({error})") from None


def check_trainer(where: str, trainer: Any) -> None:
    missing = [name for name in TRAINER_METHODS if not callable(getattr(trainer, name, None))]
    if missing:
        raise SpecError(f"{where}: trainer lacks {', '.join(missing)} (see models/training.py FamilyTrainer)")
