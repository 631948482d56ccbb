"""The stage graph: each stage's name, the artifacts it takes, its config section and its function.

``data`` is the source (the built-in sample or Dacon's files); every other name is a stage.
Functions are named as ``module:function`` and imported only when the stage is computed, so a
command answered from the cache never imports torch, LightGBM or eli5.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from pipeline.config import MODEL_NAMES, Config


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


def stage_graph(config: Config) -> dict[str, Stage]:
    """Every stage, in an order where inputs come first."""
    trained = ("data", "features", "folds")
    pruned = (*trained, "selection")
    stages = [
        Stage("features", "features.table:build_features", ("data",), "features"),
        Stage("folds", "pipeline.folds:make_folds", ("data",), "folds"),
        Stage("lgbm", "models.lgbm:train_lgbm", ("data", "features", "folds"), "lgbm"),
        Stage("mlp", "models.mlp:train_mlp", ("data", "features", "folds"), "mlp"),
        Stage(
            "importance",
            "pipeline.importance:permutation_importance",
            ("data", "features", "folds", "lgbm"),
            "importance",
        ),
        Stage("selection", "pipeline.importance:select_features", ("importance",), "selection"),
        Stage("lgbm_pruned", "models.lgbm:train_lgbm_pruned", pruned, "lgbm"),
        Stage("mlp_pruned", "models.mlp:train_mlp_pruned", pruned, "mlp"),
        Stage("blend", "pipeline.blend:blend_models", ("data", "folds", *config.blend.models), "blend"),
        Stage("submission", "pipeline.submission:make_submission", ("data", "blend"), "submission"),
        Stage(
            "report", "pipeline.oof_report:build_report", ("data", *config.blend.models, "blend"), "report"
        ),
    ]
    return {stage.name: stage for stage in stages}


MODEL_STAGES = MODEL_NAMES
TARGETS = {
    name: name for name in ("features", "folds", *MODEL_NAMES, "importance", "selection", "blend", "report")
}
TARGETS["all"] = "submission"
