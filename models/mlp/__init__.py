"""The MLP family: a PyTorch network per fold (plain, attention or TabM), inputs scaled per fold."""

from models.mlp.config import SPACE, MlpConfig, space_key_ok
from models.spec import ModelSpec

SPEC = ModelSpec(
    name="mlp",
    section=MlpConfig,
    trainer="models.mlp.trainer:TRAINER",
    code=("models.mlp.trainer", "models.training"),
    libraries=("torch", "rtdl_num_embeddings"),
    space=SPACE,
    space_key_ok=space_key_ok,
)
