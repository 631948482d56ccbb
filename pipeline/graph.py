"""The stage graph: each stage's name, the artifacts it takes, its config section and its function.

``data`` is the source (the built-in sample or Dacon's files); every other name is a stage.
Functions are named as ``module:function`` and imported only when the stage is computed, so a
command answered from the cache never imports torch, LightGBM or eli5.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from pipeline.config import MODEL_NAMES, TUNABLE_MODELS, Config


@dataclass(frozen=True)
class Stage:
    name: str
    target: str
    """``module:function`` of the stage function."""
    inputs: tuple[str, ...]
    section: str

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def function(self) -> Callable:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


def model_stage(
    name: str, function: str, inputs: tuple[str, ...], model: str, tuned: tuple[str, ...]
) -> Stage:
    """A trainer stage; when its model trains on tuned settings, it also takes that model's study."""
    return Stage(name, function, (*inputs, f"tune_{model}") if model in tuned else inputs, model)


def stage_graph(config: Config) -> dict[str, Stage]:
    """Every stage, in an order where inputs come first."""
    trained = ("data", "features", "folds")
    pruned = (*trained, "selection")
    tuned = config.tuned_models()
    tune_inputs = tuple(f"tune_{model}" for model in tuned)
    stages = [
        Stage("features", "features.table:build_features", ("data",), "features"),
        Stage("folds", "pipeline.folds:make_folds", ("data",), "folds"),
        *(Stage(f"tune_{m}", "pipeline.tune:tune_model", trained, f"tune_{m}") for m in TUNABLE_MODELS),
        model_stage("lgbm", "models.lgbm:train_lgbm", trained, "lgbm", tuned),
        model_stage("mlp", "models.mlp:train_mlp", trained, "mlp", tuned),
        Stage(
            "importance",
            "pipeline.importance:permutation_importance",
            ("data", "features", "folds", "lgbm"),
            "importance",
        ),
        Stage("selection", "pipeline.importance:select_features", ("importance",), "selection"),
        model_stage("lgbm_pruned", "models.lgbm:train_lgbm_pruned", pruned, "lgbm", tuned),
        model_stage("mlp_pruned", "models.mlp:train_mlp_pruned", pruned, "mlp", tuned),
        Stage("blend", "pipeline.blend:blend_models", ("data", "folds", *config.blend.models), "blend"),
        Stage("submission", "pipeline.submission:make_submission", ("data", "blend"), "submission"),
        Stage(
            "report",
            "pipeline.oof_report:build_report",
            ("data", *config.blend.models, "blend", *tune_inputs),
            "report",
        ),
    ]
    return {stage.name: stage for stage in stages}


TARGETS = {
    name: name for name in ("features", "folds", *MODEL_NAMES, "importance", "selection", "blend", "report")
}
TARGETS["all"] = "submission"


def targets_of(stage: str, config: Config) -> tuple[str, ...]:
    """The stages a ``--stage`` value runs: ``all`` adds the report, ``tune`` is every study of
    ``tune.models``."""
    if stage == "tune":
        return tuple(f"tune_{model}" for model in config.tune.models)
    if stage == "all":
        return ("submission", "report")
    return (TARGETS[stage],)
