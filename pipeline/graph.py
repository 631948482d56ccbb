"""The stage graph: each stage's name, the artifacts it takes, its config section and its function.

``data`` is the source (the built-in sample or Dacon's files); every other name is a stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from features import table
from models import lgbm, mlp
from pipeline import blend, folds, importance, oof_report, submission
from pipeline.config import MODEL_NAMES, Config


@dataclass(frozen=True)
class Stage:
    name: str
    function: Callable
    inputs: tuple[str, ...]
    section: str


def stage_graph(config: Config) -> dict[str, Stage]:
    """Every stage, in an order where inputs come first."""
    stages = [
        Stage("features", table.build_features, ("data",), "features"),
        Stage("folds", folds.make_folds, ("data",), "folds"),
        Stage("lgbm", lgbm.train_lgbm, ("data", "features", "folds"), "lgbm"),
        Stage("mlp", mlp.train_mlp, ("data", "features", "folds"), "mlp"),
        Stage(
            "importance",
            importance.permutation_importance,
            ("data", "features", "folds", "lgbm"),
            "importance",
        ),
        Stage("selection", importance.select_features, ("importance",), "selection"),
        Stage("lgbm_pruned", lgbm.train_lgbm_pruned, ("data", "features", "folds", "selection"), "lgbm"),
        Stage("mlp_pruned", mlp.train_mlp_pruned, ("data", "features", "folds", "selection"), "mlp"),
        Stage(
            "lgbm_pruned_nested",
            lgbm.train_lgbm_pruned_nested,
            ("data", "features", "folds", "selection"),
            "lgbm",
        ),
        Stage("blend", blend.blend_models, ("data", "folds", *config.blend.models), "blend"),
        Stage("submission", submission.make_submission, ("data", "blend"), "submission"),
        Stage("report", oof_report.build_report, ("data", *config.blend.models, "blend"), "report"),
    ]
    return {stage.name: stage for stage in stages}


MODEL_STAGES = MODEL_NAMES
TARGETS = {
    name: name for name in ("features", "folds", *MODEL_NAMES, "importance", "selection", "blend", "report")
}
TARGETS["all"] = "submission"
