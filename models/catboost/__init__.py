"""The CatBoost family: a multiclass model per fold, stopping early on the inner held-out rows."""

from models.catboost.config import SPACE, CatboostConfig, space_key_ok
from models.spec import ModelSpec

SPEC = ModelSpec(
    name="catboost",
    section=CatboostConfig,
    trainer="models.catboost.trainer:TRAINER",
    code=("models.catboost.trainer", "models.training"),
    libraries=("catboost",),
    space=SPACE,
    space_key_ok=space_key_ok,
    extra="zoo",
)
