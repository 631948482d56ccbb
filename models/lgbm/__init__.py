"""The LightGBM family: multiclass boosters per fold (gbdt, dart or goss), averaged over seeds."""

from models.lgbm.config import SPACE, LgbmConfig, space_key_ok
from models.spec import ModelSpec

SPEC = ModelSpec(
    name="lgbm",
    section=LgbmConfig,
    trainer="models.lgbm.trainer:TRAINER",
    code=("models.lgbm.trainer", "models.training"),
    libraries=("lightgbm",),
    space=SPACE,
    space_key_ok=space_key_ok,
)
