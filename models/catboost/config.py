"""The catboost section and its search space (read without importing CatBoost)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from models.devices import DEVICES
from pipeline.engine.settings import SEED_RANGE, setting

EARLY_STOPPING = ("inner", "valid_fold", "none")
SPACE = {
    "learning_rate": {"low": 0.03, "high": 0.25, "log": True},
    "depth": {"low": 4, "high": 9, "int": True},
    "l2_leaf_reg": {"low": 0.5, "high": 30.0, "log": True},
    "random_strength": {"low": 0.1, "high": 5.0, "log": True},
    "bagging_temperature": {"low": 0.0, "high": 2.0},
    "rsm": {"low": 0.2, "high": 1.0},
}
TRAINER_KEYS = ("n_seeds", "iterations", "early_stopping_rounds", "early_stopping", "inner_share",
                "settings", "device", "num_threads", "seed")  # fmt: skip


@dataclass(frozen=True)
class CatboostConfig:
    """CatBoost (``pip install -e ".[zoo]"``): MultiClass over every class, symmetric trees, stopping
    on a stratified inner share of each fold's training rows (honest). The slowest family on 2 cores."""

    learning_rate: float = setting(0.08)
    depth: int = setting(6)
    l2_leaf_reg: float = setting(3.0)
    border_count: int = setting(254, "histogram borders per feature")
    rsm: float = setting(1.0, "share of features tried per split (CPU only; below 1: faster, more random)")
    random_strength: float = setting(1.0)
    bagging_temperature: float = setting(1.0, "Bayesian bootstrap of rows (0: none)")
    iterations: int = setting(3000)
    early_stopping_rounds: int = setting(100)
    early_stopping: str = setting(
        "inner",
        "inner: a stratified share of the fold's training rows (honest); valid_fold: the scored fold "
        "(labelled optimistic); none: all iterations on every training row",
        choices=EARLY_STOPPING,
    )
    inner_share: float = setting(0.1)
    n_seeds: int = setting(1, "models per fold with different seeds; probabilities averaged")
    seed: int = setting(42)
    settings: str = setting(
        "config", "config: the keys of this section | tuned: the best of the tune_catboost study",
        choices=("config", "tuned"),
    )  # fmt: skip
    device: str = setting("auto", "auto (CUDA when present) | cpu | cuda", choices=DEVICES)
    num_threads: int = setting(0, "0: the threads the backend gives each task")

    RANGES = {
        "learning_rate": "(0, 1]",
        "depth": "[1, 16]",
        "l2_leaf_reg": "[0, inf)",
        "border_count": "[1, 65535]",
        "rsm": "(0, 1]",
        "random_strength": "[0, inf)",
        "bagging_temperature": "[0, inf)",
        "iterations": "[1, inf)",
        "early_stopping_rounds": "[1, inf)",
        "inner_share": "(0, 0.5]",
        "n_seeds": "[1, 100]",
        "seed": SEED_RANGE,
        "num_threads": "[0, 1024]",
    }


def space_key_ok(name: str) -> bool:
    """A model setting of the section (not one of the trainer's own)."""
    return name in {f.name for f in fields(CatboostConfig)} and name not in TRAINER_KEYS
