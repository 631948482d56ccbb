"""The xgb section and its search space (read without importing XGBoost)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from models.devices import DEVICES
from pipeline.engine.settings import SEED_RANGE, setting

EARLY_STOPPING = ("inner", "valid_fold", "none")
SPACE = {
    "learning_rate": {"low": 0.02, "high": 0.2, "log": True},
    "max_depth": {"low": 3, "high": 10, "int": True},
    "min_child_weight": {"low": 0.1, "high": 20.0, "log": True},
    "subsample": {"low": 0.5, "high": 1.0},
    "colsample_bytree": {"low": 0.3, "high": 1.0},
    "reg_lambda": {"low": 0.01, "high": 30.0, "log": True},
    "reg_alpha": {"low": 0.001, "high": 10.0, "log": True},
}
TRAINER_KEYS = ("n_seeds", "num_boost_round", "early_stopping_rounds", "early_stopping", "inner_share",
                "settings", "device", "num_threads", "seed")  # fmt: skip


@dataclass(frozen=True)
class XgbConfig:
    """XGBoost (``pip install -e ".[zoo]"``): objective multi:softprob over every class, the ``hist``
    tree method, stopping on a stratified inner share of each fold's training rows (honest)."""

    learning_rate: float = setting(0.05)
    max_depth: int = setting(6)
    min_child_weight: float = setting(1.0)
    subsample: float = setting(0.8, "rows sampled per tree")
    colsample_bytree: float = setting(0.6, "columns sampled per tree")
    reg_lambda: float = setting(1.0, "L2 on leaf values")
    reg_alpha: float = setting(0.0, "L1 on leaf values")
    max_bin: int = setting(256)
    num_boost_round: int = setting(3000)
    early_stopping_rounds: int = setting(100)
    early_stopping: str = setting(
        "inner",
        "inner: a stratified share of the fold's training rows (honest); valid_fold: the scored fold "
        "(labelled optimistic); none: num_boost_round rounds on every training row",
        choices=EARLY_STOPPING,
    )
    inner_share: float = setting(0.1)
    n_seeds: int = setting(1, "boosters per fold with different seeds; probabilities averaged")
    seed: int = setting(42)
    settings: str = setting(
        "config", "config: the keys of this section | tuned: the best of the tune_xgb study",
        choices=("config", "tuned"),
    )  # fmt: skip
    device: str = setting("auto", "auto (CUDA when present) | cpu | cuda", choices=DEVICES)
    num_threads: int = setting(0, "0: the threads the backend gives each task")

    RANGES = {
        "learning_rate": "(0, 1]",
        "max_depth": "[1, 20]",
        "min_child_weight": "[0, inf)",
        "subsample": "(0, 1]",
        "colsample_bytree": "(0, 1]",
        "reg_lambda": "[0, inf)",
        "reg_alpha": "[0, inf)",
        "max_bin": "[2, 65536]",
        "num_boost_round": "[1, inf)",
        "early_stopping_rounds": "[1, inf)",
        "inner_share": "(0, 0.5]",
        "n_seeds": "[1, 100]",
        "seed": SEED_RANGE,
        "num_threads": "[0, 1024]",
    }


def space_key_ok(name: str) -> bool:
    """A booster setting of the section (not one of the trainer's own)."""
    return name in {f.name for f in fields(XgbConfig)} and name not in TRAINER_KEYS
