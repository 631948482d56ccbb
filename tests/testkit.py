"""Helpers shared by the tests (importable because pytest puts tests/ on the path)."""

from __future__ import annotations

from pathlib import Path

from pipeline.cache import Cache
from pipeline.runner import Runner, silent
from pipeline.sources import SampleSource

SHARED_DACON = Path(__file__).resolve().parents[2] / "shared" / "data" / "dacon"

TINY = [
    "sample.n_train=1500",
    "sample.n_test=150",
    "folds.n_splits=3",
    "lgbm.learning_rate=0.3",
    "lgbm.num_boost_round=40",
    "lgbm.early_stopping_rounds=5",
    "lgbm.num_leaves=7",
    "lgbm.max_bin=31",
    "mlp.hidden=32",
    "mlp.depth=2",
    "mlp.max_epochs=8",
    "mlp.patience=3",
    "mlp.batch_size=256",
    "mlp.learning_rate=0.01",
    "mlp.device='cpu'",
]


def make_runner(config, cache_dir: Path, **kwargs) -> Runner:
    """A quiet runner on the built-in sample."""
    return Runner(config, SampleSource(config.sample), Cache(cache_dir), log=silent, **kwargs)
