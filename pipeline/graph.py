"""The stage graph: each stage's name, the artifacts it takes, its config section and its function.

``data`` is the source (the built-in sample or Dacon's files); every other name is a stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from features import table
from models import lgbm
from pipeline import blend, folds, submission
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
        Stage("blend", blend.blend_models, ("data", "folds", *config.blend.models), "blend"),
        Stage("submission", submission.make_submission, ("data", "blend"), "submission"),
    ]
    return {stage.name: stage for stage in stages}


MODEL_STAGES = MODEL_NAMES
TARGETS = {"features": "features", "folds": "folds", "lgbm": "lgbm", "blend": "blend", "all": "submission"}
