"""The XGBoost family: a multiclass ``hist`` booster per fold, stopping early on the inner held-out rows."""

from models.spec import ModelSpec
from models.xgb.config import SPACE, XgbConfig, space_key_ok

SPEC = ModelSpec(
    name="xgb",
    section=XgbConfig,
    trainer="models.xgb.trainer:TRAINER",
    code=("models.xgb.trainer", "models.training"),
    libraries=("xgboost",),
    space=SPACE,
    space_key_ok=space_key_ok,
    extra="zoo",
)
