"""The stage graph: each stage's name, the artifacts it takes, its config section, its function and the
code and libraries that shape its artifact (its cache key covers exactly those).

``data`` is the source (the built-in sample or Dacon's files); every other name is a stage. Model
stages come from the registry (``models/registry.py``): each family trains on the shared folds, has a
study when it can be tuned, and a pruned variant on the eli5 selection when it has that capability.
Functions are named as ``module:function`` and imported only when the stage is computed, so a
command answered from the cache never imports torch, LightGBM or eli5.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

from models import registry

CORE_LIBRARIES = ("numpy", "pandas", "scikit-learn", "scipy", "joblib")
TRAINED_ON = ("data", "features", "folds")
FOLDS = "pipeline.validation.folds"


@dataclass(frozen=True)
class Stage:
    name: str
    target: str
    """``module:function`` of the stage function."""
    inputs: tuple[str, ...]
    code: tuple[str, ...]
    """Modules whose code shapes the artifact (their project imports are followed)."""
    section: str = ""
    """Its config section (default: its name)."""
    libraries: tuple[str, ...] = ()
    """Libraries beyond ``CORE_LIBRARIES`` whose versions shape the artifact."""
    options: dict = field(default_factory=dict)
    """Keyword arguments bound to the function (a model stage's family)."""
    family: str = ""
    """The model family it trains or tunes ("" for other stages)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "section", self.section or self.name)
        object.__setattr__(self, "libraries", tuple(dict.fromkeys((*CORE_LIBRARIES, *self.libraries))))

    @property
    def function(self) -> Callable:
        module, _, name = self.target.partition(":")
        return partial(getattr(importlib.import_module(module), name), **self.options)


def stage_graph(config) -> dict[str, Stage]:
    """Every stage, in an order where inputs come first."""
    permuted = registry.spec(config.importance.model)
    studies = tuple(f"tune_{model}" for model in config.tuned_models())
    stages = [
        Stage("features", "features.table:build_features", ("data",), code=("features.table",)),
        Stage("folds", f"{FOLDS}:make_folds", ("data",), code=(FOLDS,)),
        *model_stages(config),
        Stage(
            "importance",
            "pipeline.stages.importance:permutation_importance",
            (*TRAINED_ON, permuted.name),
            code=("pipeline.stages.importance", *permuted.code),
            libraries=(*permuted.libraries, "eli5"),
        ),
        Stage(
            "selection", "pipeline.stages.importance:select_features", ("importance",),
            code=("pipeline.stages.importance",),
        ),
        *pruned_stages(config),
        Stage(
            "blend", "pipeline.stages.blend:blend_models", ("data", "folds", *config.blend.models),
            code=("pipeline.stages.blend",),
        ),
        Stage(
            "submission", "pipeline.stages.submission:make_submission", ("data", "blend"),
            code=("pipeline.stages.submission",),
        ),
        Stage(
            "report", "pipeline.reporting.oof_report:build_report",
            ("data", *config.blend.models, "blend", *studies),
            code=("pipeline.reporting.oof_report",), libraries=("matplotlib",),
        ),
    ]  # fmt: skip
    return {stage.name: stage for stage in stages}


def model_stages(config) -> list[Stage]:
    """Per family: its study (when tunable), then its trainer on the shared folds, which takes the
    study when the family trains on tuned settings."""
    stages, tuned = [], config.tuned_models()
    for spec in registry.specs():
        study = (f"tune_{spec.name}",) if spec.name in tuned else ()
        if spec.tunable:
            stages.append(
                Stage(
                    f"tune_{spec.name}", "pipeline.stages.tune:tune_model", TRAINED_ON,
                    code=("pipeline.stages.tune", *spec.code), libraries=(*spec.libraries, "optuna"),
                    family=spec.name,
                )
            )  # fmt: skip
        stages.append(
            Stage(
                spec.name, "models.training:train_model", (*TRAINED_ON, *study),
                code=spec.code, libraries=spec.libraries, options={"family": spec.name}, family=spec.name,
            )
        )  # fmt: skip
    return stages


def pruned_stages(config) -> list[Stage]:
    """Each family with the capability, trained on the features each fold's importances kept."""
    tuned = config.tuned_models()
    return [
        Stage(
            f"{spec.name}_pruned", "models.training:train_pruned_model",
            (*TRAINED_ON, "selection", *((f"tune_{spec.name}",) if spec.name in tuned else ())),
            code=spec.code, section=spec.name, libraries=spec.libraries, options={"family": spec.name},
            family=spec.name,
        )
        for spec in registry.specs()
        if spec.pruned
    ]  # fmt: skip


def check_installed(graph: dict[str, Stage], names) -> None:
    """A one-line error, before anything runs, when a stage among ``names`` trains a family whose
    libraries are not installed (it names the extra to install)."""
    for name in names:
        if graph[name].family:
            registry.spec(graph[name].family).check_installed()


def target_names() -> tuple[str, ...]:
    """What ``--stage`` may name: every stage a user asks for by name, and ``all``."""
    models = registry.model_stage_names()
    return ("features", "folds", *models, "importance", "selection", "blend", "report", "all")


def targets_of(stage: str, config) -> tuple[str, ...]:
    """The stages a ``--stage`` value runs: ``all`` adds the report, ``tune`` is every study of
    ``tune.models``."""
    if stage == "tune":
        return tuple(f"tune_{model}" for model in config.tune.models)
    if stage == "all":
        return ("submission", "report")
    return (stage,)
